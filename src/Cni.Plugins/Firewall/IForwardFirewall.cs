using System.Net;
using Cni.Firewall;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Plugins.FirewallMeta;

/// <summary>The node side of the firewall plugin, as a port so the plugin's logic is tested without root.</summary>
public interface IForwardFirewall : IDisposable
{
    void Add(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain);
    /// <summary>Removes the attachment's rules; <paramref name="addresses"/> (prevResult's) also the reference's untagged ones for them.</summary>
    void Remove(Attachment attachment, IReadOnlyList<IPAddress>? addresses = null);
    IReadOnlyList<string> Check(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain);
    void Gc(string network, IReadOnlyCollection<Attachment> valid);
    void EnsureIngressPolicy(string bridge, bool isolated, string network);
    bool HasIngressPolicy(string bridge, bool isolated);
}

/// <summary>nftables over netlink: <see cref="ForwardAcceptRules"/> in iptables' filter tables, <see cref="IngressPolicyRules"/> in ours.</summary>
public sealed class NftForwardFirewall : IForwardFirewall
{
    private readonly NftConnection _nft = NftConnection.ForCall();

    public static IForwardFirewall Open() => new NftForwardFirewall();

    private static T Run<T>(string what, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (LinuxException e)
        {
            throw new CniException(ErrorCode.Internal, $"{what}: {e.Message}", e.ErrnoName);
        }
    }

    public void Add(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain) =>
        Run("failed to add firewall rules", () => { new ForwardAcceptRules(_nft).Add(network, attachment, addresses, adminChain); return 0; });

    public void Remove(Attachment attachment, IReadOnlyList<IPAddress>? addresses = null) =>
        Run("failed to remove firewall rules", () => new ForwardAcceptRules(_nft).Remove(attachment, addresses));

    public IReadOnlyList<string> Check(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain) =>
        Run("failed to read firewall rules", () => new ForwardAcceptRules(_nft).Check(network, attachment, addresses, adminChain));

    public void Gc(string network, IReadOnlyCollection<Attachment> valid) =>
        Run("failed to collect firewall rules", () => new ForwardAcceptRules(_nft).Gc(network, valid));

    public void EnsureIngressPolicy(string bridge, bool isolated, string network) =>
        Run("failed to add ingress policy rules", () => { new IngressPolicyRules(_nft).Ensure(bridge, isolated, network); return 0; });

    public bool HasIngressPolicy(string bridge, bool isolated) =>
        Run("failed to read ingress policy rules", () => new IngressPolicyRules(_nft).IsRegistered(bridge, isolated));

    public void Dispose() { }
}
