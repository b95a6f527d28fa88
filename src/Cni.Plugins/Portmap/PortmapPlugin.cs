using System.Net;
using System.Net.Sockets;
using Cni.Firewall;
using Cni.Spec;

namespace Cni.Plugins.Portmap;

/// <summary>
/// The portmap plugin, chained after an interface plugin: publishes <c>runtimeConfig.portMappings</c>
/// to the container's addresses from <c>prevResult</c> (DNAT for traffic to local addresses, from
/// outside and from the node itself, 127.0.0.1 included; hairpin and localhost masquerade) through the
/// nftables maps of <see cref="PortMappingRules"/>, and passes <c>prevResult</c> through. DEL needs only
/// the container ID and interface name. UDP flows to the published host ports are forgotten on ADD
/// and DEL, so they reach the current container.
/// </summary>
public sealed class PortmapPlugin : CniPlugin
{
    private readonly Func<IPortMappingFirewall> _firewall;
    private readonly TextWriter? _logOverride;

    public PortmapPlugin() : this(null) { }

    /// <summary>The node side is given as a factory so calls that publish nothing open no socket.</summary>
    public PortmapPlugin(Func<IPortMappingFirewall>? firewall, TextWriter? log = null)
    {
        _firewall = firewall ?? NodePortMappings.Open;
        _logOverride = log;
    }

    /// <summary>Where warnings go: stderr unless a test gave a writer. Resolved on first use: setting up
    /// Console.Error costs a plugin call that has nothing to say (encoding, stream and writer set-up).</summary>
    private TextWriter Log => _logOverride ?? Console.Error;

    public override string Name => "portmap";

    public override Result Add(CniRequest request)
    {
        var config = PortmapConfig.Parse(request.StdinData);
        var options = config.Options();
        var mappings = config.Mappings();
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "must be called as chained plugin", "portmap needs the prevResult of an interface plugin");
        if (mappings.Count == 0) return prev;

        var addresses = ContainerAddresses.From(prev, request.IfName);
        if (addresses.V4 is null && addresses.V6 is null)
            throw CniException.InvalidConfig($"prevResult has no address for interface {request.IfName}", "portmap publishes ports to the container's addresses from prevResult");
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);

        using var firewall = _firewall();
        using var rollback = new Rollback(_logOverride);
        var published = firewall.Add(attachment, request.Config.Name!, mappings, addresses.V4?.Address, addresses.V6?.Address, addresses.Subnets, options);
        rollback.Add("remove port mappings", () => firewall.Remove(attachment));
        if (addresses.V4 is { } v4 && published.Any(e => e.Set == PortMappingSet.Addr4 && IPAddress.IsLoopback(e.Address!)))
            firewall.EnableRouteLocalnet(v4.Address, HostInterface(prev));
        // Inside the transaction: an ADD whose flush fails reports the failure and takes its mappings back.
        ForgetUdpFlows(firewall, published);
        rollback.Commit();
        return prev;
    }

    public override void Del(CniRequest request)
    {
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        using var firewall = _firewall();
        var removed = firewall.Remove(attachment);
        ForgetUdpFlows(firewall, removed);
    }

    public override void Check(CniRequest request)
    {
        var config = PortmapConfig.Parse(request.StdinData);
        var options = config.Options();
        var mappings = config.Mappings();
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        if (mappings.Count == 0) return;
        var addresses = ContainerAddresses.From(prev, request.IfName);
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        using var firewall = _firewall();
        var problems = firewall.Check(attachment, mappings, addresses.V4?.Address, addresses.V6?.Address, options);
        if (problems.Count > 0)
            throw new CniException(ErrorCode.Internal, "port mappings are missing or changed", string.Join("; ", problems));
    }

    public override void Gc(CniRequest request)
    {
        var valid = request.ValidAttachments.Select(a => new Cni.Spec.Attachment(a.ContainerId, a.IfName)).ToArray();
        using var firewall = _firewall();
        firewall.Gc(request.Config.Name!, valid);
    }

    /// <summary>Best effort, after the rules are in place (as the reference): a failure is logged, not fatal.</summary>
    private void ForgetUdpFlows(IPortMappingFirewall firewall, IReadOnlyList<PortMappingElement> elements)
    {
        // A loop, not Where(..).Select(..): the chained operator is a generic virtual method that NativeAOT
        // resolves at run time, measurable in a plugin's whole call.
        var ports = new List<PublishedPort>();
        foreach (var e in elements)
        {
            if (e.IsDnat && e.Protocol == PortProtocol.Udp) ports.Add(e.Published);
        }
        if (ports.Count == 0) return;
        try
        {
            firewall.ForgetUdpFlows(ports);
        }
        catch (Exception e)
        {
            Log.WriteLine($"portmap: failed to delete stale UDP conntrack entries: {e.Message}");
        }
    }

    /// <summary>The first host-side interface of prevResult (the bridge for the bridge plugin, the host veth for ptp).</summary>
    private static string? HostInterface(Result prev) =>
        prev.Interfaces?.FirstOrDefault(i => string.IsNullOrEmpty(i.Sandbox) && i.Name.Length > 0)?.Name;
}

/// <summary>The container's addresses in a result: the first IPv4 and IPv6 address of the sandbox interface <c>ifname</c>, and their subnets.</summary>
public sealed record ContainerAddresses(IPPrefix? V4, IPPrefix? V6, IReadOnlyList<IPPrefix> Subnets)
{
    /// <summary>As the reference: IPs whose interface is another name or a host-side interface are skipped; IPs without an interface count.</summary>
    public static ContainerAddresses From(Result result, string ifName)
    {
        IPPrefix? v4 = null, v6 = null;
        var subnets = new List<IPPrefix>();
        foreach (var ip in result.IPs ?? [])
        {
            if (ip.Interface is int index && index >= 0 && index < (result.Interfaces?.Count ?? 0))
            {
                var iface = result.Interfaces![index];
                if (iface.Name != ifName || string.IsNullOrEmpty(iface.Sandbox)) continue;
            }
            if (!IPPrefix.TryParse(ip.Address, out var prefix))
                throw new CniException(ErrorCode.DecodingFailure, $"invalid address in prevResult: {ip.Address}");
            if (prefix.Address.IsIPv4MappedToIPv6) prefix = new IPPrefix(prefix.Address.MapToIPv4(), Math.Max(0, prefix.PrefixLength - 96));
            if (prefix.IsV4) v4 ??= prefix; else v6 ??= prefix;
            subnets.Add(prefix.Network);
        }
        return new ContainerAddresses(v4, v6, subnets.Distinct().ToArray());
    }

    public bool HasFamily(AddressFamily family) => family == AddressFamily.InterNetwork ? V4 is not null : V6 is not null;
}
