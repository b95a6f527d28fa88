using Cni.Linux.Namespaces;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

public sealed partial class BridgePlugin
{
    /// <summary>
    /// CHECK: the bridge, the container interface, the host veth (ours by tag, the container interface's peer,
    /// on the bridge, with the configured port flags), the addresses and routes of prevResult in the container,
    /// the masquerade and macspoofchk rules. Any difference is an error.
    /// </summary>
    public override void Check(CniRequest request)
    {
        var o = OptionsOf(request);
        var c = o.Config;
        var tag = new Attachment(request.ContainerId, request.IfName);

        if (o.HasIpam)
            IpamDelegate.Check(request);

        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        var interfaces = prev.Interfaces ?? [];

        int bridgeAt = interfaces.FindIndex(i => i.Name == o.Bridge && string.IsNullOrEmpty(i.Sandbox));
        int containerAt = interfaces.FindIndex(i => i.Name == request.IfName && i.Sandbox == request.Netns);
        if (bridgeAt < 0)
            throw Failed($"bridge {o.Bridge} is not in prevResult");
        if (containerAt < 0)
            throw Failed($"Sandbox in prevResult doesn't match configured netns: {request.Netns}",
                $"no interface {request.IfName} with sandbox {request.Netns} in prevResult");
        var hostRecord = interfaces.FirstOrDefault(i => i.Name == tag.HostInterfaceName && string.IsNullOrEmpty(i.Sandbox));

        using var host = RouteSocket.Open();

        // The bridge.
        var bridge = host.GetLink(o.Bridge) ?? throw Failed($"CNI created bridge {o.Bridge} in host namespace was not found");
        if (bridge.Kind != "bridge")
            throw Failed($"Interface {o.Bridge} does not have link type of bridge");
        CheckMac(interfaces[bridgeAt], bridge, "Bridge interface");
        bool promisc = (bridge.Flags & RouteSocket.IFF_PROMISC) != 0;
        if (promisc != c.PromiscMode)
            throw Failed($"Bridge interface {o.Bridge} configured Promisc Mode {c.PromiscMode} doesn't match current state: {promisc}");
        _uplink?.Check(host, bridge);

        // The container interface.
        using var netns = OpenNetns(request.Netns);
        using var container = RouteSocket.OpenIn(netns);
        var inside = container.GetLink(request.IfName)
            ?? throw Failed($"CNI created interface in container {request.IfName} not found");
        if (inside.Kind != "veth")
            throw Failed($"Error: Container interface {request.IfName} not of type veth");
        CheckMac(interfaces[containerAt], inside, "Container interface");

        // The host veth: ours, the peer of the container interface, on the bridge.
        var hostEnd = VethPair.FindHostEnd(host, tag)
            ?? throw Failed($"CNI veth created for bridge {o.Bridge} was not found", $"no interface {tag.HostInterfaceName} with alias \"{tag.Tag}\"");
        if (hostRecord is null)
            throw Failed($"host veth {hostEnd.Name} is not in prevResult");
        CheckMac(hostRecord, hostEnd, "Host veth");
        if (inside.ParentIndex != hostEnd.Index || hostEnd.ParentIndex != inside.Index)
            throw Failed($"veth {hostEnd.Name} is not the peer of {request.IfName} in the container");
        if (hostEnd.MasterIndex != bridge.Index)
            throw Failed($"veth {hostEnd.Name} is not attached to bridge {o.Bridge}");
        if (hostEnd.BridgePort is { } port)
        {
            if (port.Hairpin != c.HairpinMode)
                throw Failed($"veth {hostEnd.Name} hairpin mode is {port.Hairpin}, config says {c.HairpinMode}");
            if (port.Isolated != c.IsolatePorts)
                throw Failed($"veth {hostEnd.Name} port isolation is {port.Isolated}, config says {c.IsolatePorts}");
        }

        // Addresses and routes inside the container.
        ContainerInterface.Verify(container, inside.Index, request.IfName, prev, containerAt);

        // Firewall.
        if (c.IPMasq)
        {
            var addresses = (prev.IPs ?? []).Where(ip => ip.Interface is null || ip.Interface == containerAt).Select(ip => ip.Prefix).ToList();
            _masquerade().Check(tag, addresses);
        }
        if (c.Internal)
            _internalNetwork().Check(o.Bridge);
        if (c.MacSpoofCheck)
        {
            var mac = MacOf(inside) ?? throw Failed($"container interface {request.IfName} has no Ethernet address");
            _macSpoofCheck().Check(tag, hostEnd.Name, mac);
        }
    }

    /// <summary>STATUS: ready when the IPAM plugin is.</summary>
    public override void Status(CniRequest request)
    {
        var o = OptionsOf(request);
        if (o.HasIpam) IpamDelegate.Status(request);
    }

    /// <summary>
    /// GC: removes host veths on this network's bridge whose tag names an attachment that is no longer valid,
    /// with their masquerade and macspoofchk rules (and macspoofchk guards of the network left without a veth), then lets the IPAM plugin collect its reservations.
    /// </summary>
    public override void Gc(CniRequest request)
    {
        var o = OptionsOf(request);
        var valid = request.ValidAttachments.ToHashSet();
        var failures = new DelFailures();
        failures.Try("sweep stale veths", () =>
        {
            using var host = RouteSocket.Open();
            var bridge = host.GetLink(o.Bridge);
            if (bridge is null) return;
            foreach (var link in host.ListLinks())
            {
                if (link.Kind != "veth" || link.MasterIndex != bridge.Index || link.Alias is not { } alias) continue;
                int space = alias.IndexOf(' ');
                if (space <= 0) continue;
                var tag = new Attachment(alias[..space], alias[(space + 1)..]);
                if (link.Name != tag.HostInterfaceName || valid.Contains(tag)) continue;
                host.DeleteLink(link.Index);
                if (o.Config.IPMasq) _masquerade().Remove(tag);
                if (o.Config.MacSpoofCheck) _macSpoofCheck().Remove(tag);
            }
        });
        // Guards whose veth is already gone (deleted by hand, a DEL that failed half-way).
        if (o.Config.MacSpoofCheck)
            failures.Try("collect macspoofchk rules", () => _macSpoofCheck().Gc(o.NetworkName, valid));
        if (o.HasIpam)
            failures.Try("collect IPAM reservations", () => IpamDelegate.Gc(request));
        failures.ThrowIfAny();
    }

    private static void CheckMac(Interface recorded, Link link, string what)
    {
        if (string.IsNullOrEmpty(recorded.Mac)) return;
        string? actual = Format(link);
        if (!HardwareAddress.TryParse(recorded.Mac, out var mac) || mac.ToString() != actual)
            throw Failed($"{what} {link.Name} Mac doesn't match: {recorded.Mac}", $"found {actual}");
    }

    private static CniException Failed(string msg, string? details = null) => new(ErrorCode.FirstPluginCode, msg, details);
}
