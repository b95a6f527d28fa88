using System.Net;
using System.Net.Sockets;
using Cni.Linux.Netfilter;

namespace Cni.Firewall;

/// <summary>
/// Keeps a network's name resolution with the node agent when a container publishes port 53 on the node. A published
/// port is a DNAT of every local address (<see cref="PortMappingRules"/>), the network's gateway included, so a
/// container's query to its resolver would reach the publishing container instead (aardvark-dns users met exactly
/// that). These chains run just before the port mappings' and DNAT a query to a resolver address to that same address:
/// the kernel does one destination NAT per connection, so the mappings' chains are skipped for it.
/// <code>
/// set dns-resolvers4 { type ipv4_addr }  set dns-resolvers6 { type ipv6_addr }     the agent's resolver addresses
/// chain dns-prerouting { type nat hook prerouting priority dstnat - 10
///     meta nfproto ipv4 meta l4proto udp th dport 53 ip daddr @dns-resolvers4 dnat ip to ip daddr   (and tcp, and ipv6) }
/// chain dns-output { type nat hook output priority dstnat - 10; the same rules }    queries from the node itself
/// </code>
/// </summary>
public static class ResolverGuardRules
{
    public const string Set4 = "dns-resolvers4";
    public const string Set6 = "dns-resolvers6";
    public const string PreroutingChain = "dns-prerouting";
    public const string OutputChain = "dns-output";
    public const int Priority = NftBaseChain.NF_IP_PRI_NAT_DST - 10;
    private const string Comment = "sharpcni: DNS queries to the agent's resolver stay with it";

    /// <summary>The whole guard with exactly <paramref name="resolvers"/> in its sets (idempotent, one atomic batch).</summary>
    public static NftTransaction Apply(IEnumerable<IPAddress> resolvers)
    {
        var tx = SharpCniTable.AddTable(new NftTransaction());
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, Set4, NftDataType.Ipv4Address) { Comment = "resolver addresses of the node agent" });
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, Set6, NftDataType.Ipv6Address) { Comment = "resolver addresses of the node agent" });
        tx.FlushSet(SharpCniTable.Family, SharpCniTable.Name, Set4).FlushSet(SharpCniTable.Family, SharpCniTable.Name, Set6);
        var v4 = new List<NftSetElement>();
        var v6 = new List<NftSetElement>();
        foreach (var r in resolvers)
            (r.AddressFamily == AddressFamily.InterNetwork ? v4 : v6).Add(new NftSetElement(NftData.Address(r)));
        if (v4.Count > 0) tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, Set4, v4);
        if (v6.Count > 0) tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, Set6, v6);
        foreach (var (name, hook) in new[] { (PreroutingChain, NftHook.Prerouting), (OutputChain, NftHook.Output) })
        {
            var chain = new NftChain(SharpCniTable.Family, SharpCniTable.Name, name) { Base = NftBaseChain.DestinationNat(hook) with { Priority = Priority } };
            SharpCniTable.ReplaceChain(tx, chain, Rules(name));
        }
        return tx;
    }

    public static IEnumerable<NftRule> Rules(string chain)
    {
        foreach (bool ipv6 in new[] { false, true })
        {
            foreach (byte proto in new[] { (byte)ProtocolType.Udp, (byte)ProtocolType.Tcp })
            {
                yield return new NftRuleBuilder()
                    .MatchNfProto(ipv6)
                    .MatchL4Proto(proto)
                    .MatchDestinationPort(53)
                    .DestinationInSet(ipv6, ipv6 ? Set6 : Set4)
                    .Add(NftPayload.Destination(ipv6, NftRegisters.NFT_REG_1))
                    .Add(new NftNat(NftNatType.Destination, ipv6 ? NftFamily.IPv6 : NftFamily.IPv4,
                        NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1, null, null, NfNatRange.NF_NAT_RANGE_MAP_IPS))
                    .Build(SharpCniTable.Name, chain, Comment);
            }
        }
    }

    /// <summary>Removes the guard's chains and sets (the agent stopped serving names). Missing pieces are fine.</summary>
    public static void Remove(NftConnection nft)
    {
        foreach (var step in new Func<NftTransaction>[]
        {
            () => new NftTransaction().DeleteChain(SharpCniTable.Family, SharpCniTable.Name, PreroutingChain),
            () => new NftTransaction().DeleteChain(SharpCniTable.Family, SharpCniTable.Name, OutputChain),
            () => new NftTransaction().DeleteSet(SharpCniTable.Family, SharpCniTable.Name, Set4),
            () => new NftTransaction().DeleteSet(SharpCniTable.Family, SharpCniTable.Name, Set6),
        })
        {
            try
            {
                nft.Commit(step());
            }
            catch (Exception e) when (NftConnection.IsNotFound(e))
            {
            }
        }
    }
}
