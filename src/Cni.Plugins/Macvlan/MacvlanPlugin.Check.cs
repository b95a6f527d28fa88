using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

public sealed partial class MacvlanPlugin
{
    /// <summary>
    /// CHECK: the IPAM plugin's own check, then the container interface of prevResult: it exists in CNI_NETNS, is
    /// a macvlan in the configured mode on the configured master (in the right namespace), has the recorded MAC
    /// and the configured MTU, and carries prevResult's addresses and routes. Any difference is an error.
    /// </summary>
    public override void Check(CniRequest request)
    {
        var o = MacvlanOptions.From(request);
        if (o.HasIpam)
            IpamDelegate.Check(request);

        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        var interfaces = prev.Interfaces ?? [];
        int at = interfaces.FindIndex(i => i.Name == request.IfName && i.Sandbox == request.Netns);
        if (at < 0)
            throw Failed($"Sandbox in prevResult doesn't match configured netns: {request.Netns}",
                $"no interface {request.IfName} with sandbox {request.Netns} in prevResult");

        using var netns = ContainerNamespace.Open(request.Netns);
        using var container = RouteSocket.OpenIn(netns);
        Link master;
        if (o.LinkInContainer)
        {
            master = MacvlanMaster.Resolve(container, o, request.Netns);
        }
        else
        {
            using var host = RouteSocket.Open();
            master = MacvlanMaster.Resolve(host, o, "the plugin's network namespace");
        }

        var link = container.GetLink(request.IfName)
            ?? throw Failed($"container interface {request.IfName} not found in {request.Netns}");
        if (link.Kind != "macvlan")
            throw Failed($"Error: Container interface {request.IfName} not of type macvlan", $"it is {link.Kind ?? "a plain device"}");
        if (link.MacvlanMode != o.Mode)
            throw Failed($"container macvlan mode {(link.MacvlanMode is { } m ? MacvlanOptions.ModeName(m) : "unknown")} does not match expected value: {MacvlanOptions.ModeName(o.Mode)}");

        // The parent: same index, and in another namespace exactly when the master is not in the container.
        bool parentElsewhere = link.ParentNetNsId is not null;
        if (link.ParentIndex != master.Index || parentElsewhere == o.LinkInContainer)
            throw Failed($"container interface {request.IfName} is not a macvlan of master {master.Name}",
                $"its parent is link #{link.ParentIndex}{(parentElsewhere ? " in another namespace" : " in the container")}; {master.Name} is #{master.Index}{(o.LinkInContainer ? " in the container" : " in the plugin's namespace")}");

        string? recorded = interfaces[at].Mac;
        if (!string.IsNullOrEmpty(recorded))
        {
            string? actual = Format(link);
            if (!HardwareAddress.TryParse(recorded, out var mac) || mac.ToString() != actual)
                throw Failed($"interface {request.IfName} Mac {recorded} doesn't match container Mac: {actual}");
        }
        if (o.Mtu is int mtu && link.Mtu != mtu)
            throw Failed($"interface {request.IfName} MTU {link.Mtu} doesn't match configured MTU {mtu}");

        ContainerInterface.Verify(container, link.Index, request.IfName, prev, at);
    }

    /// <summary>STATUS: ready when the IPAM plugin is.</summary>
    public override void Status(CniRequest request)
    {
        if (!string.IsNullOrEmpty(request.Config.IpamType)) IpamDelegate.Status(request);
    }

    /// <summary>GC: nothing of ours lives outside container namespaces; the IPAM plugin collects its reservations.</summary>
    public override void Gc(CniRequest request)
    {
        if (!string.IsNullOrEmpty(request.Config.IpamType)) IpamDelegate.Gc(request);
    }

    private static CniException Failed(string msg, string? details = null) => new(ErrorCode.FirstPluginCode, msg, details);
}
