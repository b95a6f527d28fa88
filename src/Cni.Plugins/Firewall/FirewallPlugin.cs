using System.Net;
using Cni.Spec;

namespace Cni.Plugins.FirewallMeta;

/// <summary>
/// The firewall plugin, chained after an interface plugin: lets the container's addresses through the host's
/// forwarding filter (iptables' FORWARD, even with a DROP policy: replies to the container, anything from it), with
/// the reference's chains (CNI-FORWARD, the administrator's CNI-ADMIN) written over nfnetlink in iptables-nft's
/// format, and the reference's <c>ingressPolicy</c> isolation between bridges in our own table. Passes prevResult
/// through. DEL and GC find the attachment's rules by their comment: no prevResult, no namespace needed.
/// </summary>
public sealed class FirewallPlugin : CniPlugin
{
    private readonly Func<IForwardFirewall> _firewall;

    public FirewallPlugin() : this(null) { }

    public FirewallPlugin(Func<IForwardFirewall>? firewall) => _firewall = firewall ?? NftForwardFirewall.Open;

    public override string Name => "firewall";

    /// <summary>As the reference: from 0.4.0 on.</summary>
    public override IReadOnlyList<string> SupportedVersions { get; } = [CniVersion.V040, CniVersion.V100, CniVersion.V110];

    public override Result Add(CniRequest request)
    {
        var config = FirewallConfig.Parse(request.StdinData);
        config.RequireIptablesBackend();
        string admin = config.AdminChain();
        IngressPolicy policy = config.Policy();
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "missing prevResult from earlier plugin", "firewall is a chained plugin");
        string network = request.Config.Name!;
        Names.ValidateNetworkName(network);
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        var addresses = Addresses(prev);
        string? bridge = policy == IngressPolicy.Open ? null : BridgeOf(prev, config);
        using var firewall = _firewall();
        using var rollback = new Rollback();
        if (addresses.Count > 0)
        {
            firewall.Add(network, attachment, addresses, admin);
            rollback.Add("remove firewall rules", () => firewall.Remove(attachment));
        }
        if (bridge is not null) firewall.EnsureIngressPolicy(bridge, policy == IngressPolicy.Isolated, network);
        rollback.Commit();
        return prev;
    }

    public override void Del(CniRequest request)
    {
        // The reference also fails DEL on a firewalld backend or an unknown ingressPolicy; DEL here only needs the tag.
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        List<IPAddress>? addresses = null;
        try
        {
            if (request.PrevResult is { } prev) addresses = Addresses(prev);
        }
        catch (CniException)
        {
            // A prevResult that does not parse: the tagged rules are still found.
        }
        using var firewall = _firewall();
        firewall.Remove(attachment, addresses);
    }

    public override void Check(CniRequest request)
    {
        var config = FirewallConfig.Parse(request.StdinData);
        config.RequireIptablesBackend();
        string admin = config.AdminChain();
        IngressPolicy policy = config.Policy();
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "missing prevResult from earlier plugin");
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        var addresses = Addresses(prev);
        using var firewall = _firewall();
        var problems = new List<string>();
        if (addresses.Count > 0) problems.AddRange(firewall.Check(request.Config.Name!, attachment, addresses, admin));
        if (policy != IngressPolicy.Open && BridgeOf(prev, config) is { } bridge && !firewall.HasIngressPolicy(bridge, policy == IngressPolicy.Isolated))
            problems.Add($"ingressPolicy {config.IngressPolicyText} rules for bridge {bridge} are missing");
        if (problems.Count > 0)
            throw new CniException(ErrorCode.Internal, problems[0], string.Join("; ", problems));
    }

    public override void Gc(CniRequest request)
    {
        var valid = request.ValidAttachments.Select(a => new Cni.Spec.Attachment(a.ContainerId, a.IfName)).ToHashSet();
        using var firewall = _firewall();
        firewall.Gc(request.Config.Name!, valid);
    }

    /// <summary>Every address of prevResult (as the reference: whatever interface it belongs to).</summary>
    private static List<IPAddress> Addresses(Result prev)
    {
        var list = new List<IPAddress>();
        foreach (var ip in prev.IPs ?? [])
        {
            if (!IPPrefix.TryParse(ip.Address, out var prefix))
                throw new CniException(ErrorCode.DecodingFailure, $"invalid address in prevResult: {ip.Address}");
            IPAddress a = prefix.Address.IsIPv4MappedToIPv6 ? prefix.Address.MapToIPv4() : prefix.Address;
            if (!list.Contains(a)) list.Add(a);
        }
        return list;
    }

    /// <summary>As the reference: the first interface of prevResult is the bridge.</summary>
    private static string BridgeOf(Result prev, FirewallConfig config)
    {
        if (prev.Interfaces is not { Count: > 0 })
            throw CniException.InvalidConfig($"interface needs to be set for ingress policy \"{config.IngressPolicyText}\", make sure to chain \"firewall\" plugin with \"bridge\"");
        string name = prev.Interfaces[0].Name;
        if (string.IsNullOrEmpty(name)) throw CniException.InvalidConfig("got empty bridge name");
        Names.ValidateInterfaceName(name);
        return name;
    }
}
