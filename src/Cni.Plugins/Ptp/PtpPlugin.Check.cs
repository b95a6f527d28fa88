using System.Net.Sockets;
using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Ptp;

public sealed partial class PtpPlugin
{
    /// <summary>
    /// CHECK: the IPAM plugin's own check, then the container interface of prevResult (a veth with the recorded MAC,
    /// the addresses and routes of prevResult, the gateway and subnet routes of each address), its host end (ours by
    /// tag, its peer, up, carrying each gateway, with a host route per container address) and the masquerade state.
    /// Any difference is an error.
    /// </summary>
    public override void Check(CniRequest request)
    {
        var o = PtpOptions.From(request);
        var tag = new Attachment(request.ContainerId, request.IfName);
        IpamDelegate.Check(request);

        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "ptp: Required prevResult missing");
        var interfaces = prev.Interfaces ?? [];
        int at = interfaces.FindIndex(i => i.Name == request.IfName && i.Sandbox == request.Netns);
        if (at < 0)
            throw Failed($"Sandbox in prevResult doesn't match configured netns: {request.Netns}",
                $"no interface {request.IfName} with sandbox {request.Netns} in prevResult");
        var plan = PointToPoint.Plan(prev, at);

        using var netns = ContainerNamespace.Open(request.Netns);
        using var container = RouteSocket.OpenIn(netns);
        using var host = RouteSocket.Open();

        var inside = container.GetLink(request.IfName)
            ?? throw Failed($"ptp: Container Interface name in prevResult: {request.IfName} not found");
        if (inside.Kind != "veth")
            throw Failed($"Error: Container interface {request.IfName} not of type veth/p2p");
        string? recorded = interfaces[at].Mac;
        if (!string.IsNullOrEmpty(recorded)
            && !(HardwareAddress.TryParse(recorded, out var mac) && mac.ToString() == BridgePlugin.Format(inside)))
            throw Failed($"ptp: Interface {request.IfName} Mac {recorded} doesn't match container Mac: {BridgePlugin.Format(inside)}");

        var hostEnd = VethPair.FindHostEnd(host, tag)
            ?? throw Failed($"ptp: host veth {tag.HostInterfaceName} of {request.IfName} was not found", $"no interface {tag.HostInterfaceName} with alias \"{tag.Tag}\"");
        if (inside.ParentIndex != hostEnd.Index || hostEnd.ParentIndex != inside.Index)
            throw Failed($"veth {hostEnd.Name} is not the peer of {request.IfName} in the container");
        if (!hostEnd.IsUp)
            throw Failed($"host veth {hostEnd.Name} is down");

        ContainerInterface.Verify(container, inside.Index, request.IfName, prev, at);

        var containerRoutes = Routes(container);
        var hostRoutes = Routes(host);
        var hostAddresses = host.ListAddresses(hostEnd.Index);
        foreach (var p in plan)
        {
            RequireRoute(containerRoutes, p.GatewayRoute(inside.Index), $"container route {p.Gateway}/{p.HostLength} dev {request.IfName} scope link");
            RequireRoute(containerRoutes, p.SubnetRoute(inside.Index), $"container route {p.Address.Network} via {p.Gateway} dev {request.IfName}");
            RequireRoute(hostRoutes, p.HostRoute(hostEnd.Index), $"host route {p.Address.Address}/{p.HostLength} dev {hostEnd.Name}");
            if (!hostAddresses.Any(a => a.Address.Equals(p.Gateway) && a.PrefixLength == p.HostLength))
                throw Failed($"host veth {hostEnd.Name} does not carry the gateway {p.Gateway}/{p.HostLength}");
            if (containerRoutes.Any(r => r.OutputIndex == inside.Index && r.Gateway is null && r.Table == RouteSocket.RT_TABLE_MAIN
                    && r.PrefixLength == p.Address.PrefixLength && r.Destination.Equals(p.Address.Network.Address) && p.Address.PrefixLength < p.HostLength))
                throw Failed($"container has an on-link route for {p.Address.Network} on {request.IfName}: traffic in the subnet would bypass the host");
        }

        if (o.IPMasq)
            _masquerade().Check(tag, plan.Select(p => p.Address).ToList());
    }

    /// <summary>STATUS: ready when the IPAM plugin is.</summary>
    public override void Status(CniRequest request)
    {
        PtpOptions.From(request);
        IpamDelegate.Status(request);
    }

    /// <summary>
    /// GC: the masquerade state of this network's attachments that are no longer valid, then the IPAM plugin's own
    /// GC. A stale attachment's veth and routes went with its network namespace.
    /// </summary>
    public override void Gc(CniRequest request)
    {
        var o = PtpOptions.From(request);
        var valid = request.ValidAttachments.ToHashSet();
        var failures = new DelFailures();
        if (o.IPMasq)
            failures.Try("collect masquerade rules", () => _masquerade().Gc(o.NetworkName, valid));
        failures.Try("collect IPAM reservations", () => IpamDelegate.Gc(request));
        failures.ThrowIfAny();
    }

    private static List<RouteEntry> Routes(RouteSocket socket) =>
        [.. socket.ListRoutes(AddressFamily.InterNetwork), .. socket.ListRoutes(AddressFamily.InterNetworkV6)];

    private static void RequireRoute(List<RouteEntry> routes, RouteEntry want, string what)
    {
        bool found = routes.Any(r => r.OutputIndex == want.OutputIndex && r.PrefixLength == want.PrefixLength
            && r.Destination.Equals(want.Destination) && Equals(r.Gateway, want.Gateway));
        if (!found) throw Failed($"{what} is missing");
    }

    private static CniException Failed(string msg, string? details = null) => new(ErrorCode.FirstPluginCode, msg, details);
}
