using System.Net.Sockets;
using Cni.Linux.Namespaces;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Loopback;

/// <summary>
/// The loopback plugin: brings <c>lo</c> up in the container's namespace (ADD), down again (DEL),
/// and reports whether it is up (CHECK). The result lists the addresses <c>lo</c> carries, as the
/// reference does (127.0.0.1/8 and ::1/128 where IPv6 is enabled).
/// </summary>
public sealed class LoopbackPlugin : CniPlugin
{
    public const string InterfaceName = "lo";

    public override string Name => "loopback";

    public override Result Add(CniRequest request)
    {
        using var ns = ContainerNamespace.Open(request.Netns);
        using var rt = RouteSocket.OpenIn(ns);
        var lo = rt.GetLink(InterfaceName)
            ?? throw new CniException(ErrorCode.Internal, $"no {InterfaceName} interface in {request.Netns}");
        using var rollback = new Rollback();
        if (!lo.IsUp)
        {
            rt.SetLinkUp(lo.Index);
            rollback.Add($"set {InterfaceName} down again", () => rt.SetLinkDown(lo.Index));
        }

        var result = new Result();
        int iface = result.AddInterface(new Interface { Name = InterfaceName, Mac = "00:00:00:00:00:00", Sandbox = request.Netns });
        foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            foreach (var a in rt.ListAddresses(lo.Index, family))
                (result.IPs ??= []).Add(new IPConfig { Interface = iface, Address = new IPPrefix(a.Address, a.PrefixLength).ToString() });
        }
        rollback.Commit();
        return result;
    }

    public override void Del(CniRequest request)
    {
        // DEL succeeds when there is nothing to do: no namespace given, or it is already gone.
        if (request.Netns.Length == 0) return;
        using var ns = ContainerNamespace.TryOpen(request.Netns);
        if (ns is null) return;
        using var rt = RouteSocket.OpenIn(ns);
        if (rt.GetLink(InterfaceName) is { } lo) rt.SetLinkDown(lo.Index);
    }

    public override void Check(CniRequest request)
    {
        using var ns = ContainerNamespace.Open(request.Netns);
        using var rt = RouteSocket.OpenIn(ns);
        var lo = rt.GetLink(InterfaceName)
            ?? throw new CniException(ErrorCode.Internal, $"no {InterfaceName} interface in {request.Netns}");
        if (!lo.IsUp)
            throw new CniException(ErrorCode.Internal, "loopback interface is down", $"{InterfaceName} in {request.Netns} is not up");
    }
}
