using System.Net;
using System.Net.Sockets;

namespace Cni.Linux.Netfilter;

/// <summary>
/// Composes the expressions of a rule the way nft compiles its statements ("ip saddr 10.0.0.0/8",
/// "th dport 80", "ip daddr != @set", "masquerade"), so rules built here read back the same in
/// `nft list ruleset`. Matches in an inet table start with the meta nfproto check nft adds.
/// </summary>
public sealed class NftRuleBuilder
{
    private readonly List<NftExpression> _expressions = [];
    private readonly NftFamily _family;
    private byte _matchedNfProto;

    public NftRuleBuilder(NftFamily family = NftFamily.Inet) => _family = family;

    public IReadOnlyList<NftExpression> Expressions => _expressions;

    public NftRuleBuilder Add(NftExpression expression)
    {
        _expressions.Add(expression);
        return this;
    }

    /// <summary>meta nfproto ipv4|ipv6 (only in inet/bridge/netdev tables, where it is needed).</summary>
    public NftRuleBuilder MatchNfProto(bool ipv6)
    {
        if (_family is NftFamily.IPv4 or NftFamily.IPv6)
        {
            return this;
        }
        byte proto = ipv6 ? NfProto.NFPROTO_IPV6 : NfProto.NFPROTO_IPV4;
        if (_matchedNfProto == proto)
        {
            return this; // like nft: the dependency is matched once per rule
        }
        _matchedNfProto = proto;
        Add(new NftMeta(NftMetaKey.NfProto));
        return Add(NftCmp.Equal([proto]));
    }

    /// <summary>ip[6] saddr [!=] address/prefix.</summary>
    public NftRuleBuilder MatchSource(IPAddress address, int prefixLength, bool negate = false) => MatchAddress(address, prefixLength, negate, source: true);

    /// <summary>ip[6] daddr [!=] address/prefix.</summary>
    public NftRuleBuilder MatchDestination(IPAddress address, int prefixLength, bool negate = false) => MatchAddress(address, prefixLength, negate, source: false);

    private NftRuleBuilder MatchAddress(IPAddress address, int prefixLength, bool negate, bool source)
    {
        bool ipv6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        int size = ipv6 ? 16 : 4;
        if (prefixLength < 0 || prefixLength > size * 8)
        {
            throw new ArgumentOutOfRangeException(nameof(prefixLength));
        }
        MatchNfProto(ipv6);
        if (prefixLength == 0)
        {
            return this; // matches every address of the family
        }
        NftPayload load = source ? NftPayload.Source(ipv6) : NftPayload.Destination(ipv6);
        byte[] network = NftData.Network(address, prefixLength);
        if (prefixLength % 8 == 0)
        {
            // Like nft: a byte-aligned prefix loads only the prefix bytes, no bitwise needed.
            int bytes = prefixLength / 8;
            Add(load with { Length = (uint)bytes });
            return Add(new NftCmp(negate ? NftCmpOp.Neq : NftCmpOp.Eq, network[..bytes]));
        }
        Add(load);
        Add(NftBitwise.Prefix(size, prefixLength));
        return Add(new NftCmp(negate ? NftCmpOp.Neq : NftCmpOp.Eq, network));
    }

    /// <summary>ip[6] saddr [!=] @set.</summary>
    public NftRuleBuilder SourceInSet(bool ipv6, string set, bool invert = false)
    {
        MatchNfProto(ipv6);
        Add(NftPayload.Source(ipv6));
        return Add(new NftLookup(set, Invert: invert));
    }

    /// <summary>ip[6] daddr [!=] @set.</summary>
    public NftRuleBuilder DestinationInSet(bool ipv6, string set, bool invert = false)
    {
        MatchNfProto(ipv6);
        Add(NftPayload.Destination(ipv6));
        return Add(new NftLookup(set, Invert: invert));
    }

    /// <summary>ip[6] saddr . ip[6] daddr [!=] @set (a set of type addr . addr, like nft loads it: reg 1 and the next free register).</summary>
    public NftRuleBuilder SourceAndDestinationInSet(bool ipv6, string set, bool invert = false)
    {
        MatchNfProto(ipv6);
        Add(NftPayload.Source(ipv6));
        // nft puts a 16-byte part in the next 128-bit register, a 4-byte part in the next 32-bit one.
        Add(NftPayload.Destination(ipv6, ipv6 ? NftRegisters.NFT_REG_2 : NftRegisters.Reg32At(NftData.NFT_REG32_SIZE)));
        return Add(new NftLookup(set, Invert: invert));
    }

    /// <summary>ip[6] saddr vmap @map.</summary>
    public NftRuleBuilder SourceVerdictMap(bool ipv6, string map)
    {
        MatchNfProto(ipv6);
        Add(NftPayload.Source(ipv6));
        return Add(NftLookup.VerdictMap(map));
    }

    /// <summary>meta l4proto PROTO.</summary>
    public NftRuleBuilder MatchL4Proto(byte protocol)
    {
        Add(new NftMeta(NftMetaKey.L4Proto));
        return Add(NftCmp.Equal([protocol]));
    }

    /// <summary>th dport PORT.</summary>
    public NftRuleBuilder MatchDestinationPort(ushort port)
    {
        Add(NftPayload.TransportDestinationPort());
        return Add(NftCmp.Equal(NftData.Port(port)));
    }

    /// <summary>iifname [!=] NAME.</summary>
    public NftRuleBuilder MatchInputInterface(string name, bool negate = false)
    {
        Add(new NftMeta(NftMetaKey.InputInterfaceName));
        return Add(new NftCmp(negate ? NftCmpOp.Neq : NftCmpOp.Eq, NftData.InterfaceName(name)));
    }

    /// <summary>oifname [!=] NAME.</summary>
    public NftRuleBuilder MatchOutputInterface(string name, bool negate = false)
    {
        Add(new NftMeta(NftMetaKey.OutputInterfaceName));
        return Add(new NftCmp(negate ? NftCmpOp.Neq : NftCmpOp.Eq, NftData.InterfaceName(name)));
    }

    /// <summary>iifname [!=] @set / oifname [!=] @set.</summary>
    public NftRuleBuilder InterfaceInSet(bool input, string set, bool invert = false)
    {
        Add(new NftMeta(input ? NftMetaKey.InputInterfaceName : NftMetaKey.OutputInterfaceName));
        return Add(new NftLookup(set, Invert: invert));
    }

    /// <summary>ether saddr [!=] MAC (link-layer header: bridge and netdev tables).</summary>
    public NftRuleBuilder MatchEtherSource(ReadOnlySpan<byte> mac, bool negate = false)
    {
        Add(NftPayload.EtherSource());
        return Add(new NftCmp(negate ? NftCmpOp.Neq : NftCmpOp.Eq, NftData.EtherAddress(mac)));
    }

    /// <summary>
    /// iifname . ether saddr [!=] @set (a set of type ifname . ether_addr; like nft: the name in reg 1,
    /// the address in the next 128-bit register, reg 2).
    /// </summary>
    public NftRuleBuilder InputInterfaceAndEtherSourceInSet(string set, bool invert = false)
    {
        Add(new NftMeta(NftMetaKey.InputInterfaceName));
        Add(NftPayload.EtherSource(NftRegisters.Reg32At(NftData.IFNAMSIZ)));
        return Add(new NftLookup(set, Invert: invert));
    }

    /// <summary>fib daddr type local.</summary>
    public NftRuleBuilder MatchDestinationLocal()
    {
        Add(NftFib.DestinationAddressType());
        return Add(NftCmp.Equal(NftData.HostU32(NftFib.RTN_LOCAL)));
    }

    /// <summary>ct status dnat (the connection was destination-NATed).</summary>
    public NftRuleBuilder MatchCtStatusDnat()
    {
        Add(new NftCt(NftCtKey.Status));
        Add(new NftBitwise(NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1, NftData.HostU32(NftCt.IPS_DST_NAT), new byte[4]));
        return Add(NftCmp.NotEqual(new byte[4]));
    }

    /// <summary>ct state in the given bits (NF_CT_STATE_*), e.g. established,related.</summary>
    public NftRuleBuilder MatchCtState(uint stateBits)
    {
        Add(new NftCt(NftCtKey.State));
        Add(new NftBitwise(NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1, NftData.HostU32(stateBits), new byte[4]));
        return Add(NftCmp.NotEqual(new byte[4]));
    }

    public NftRuleBuilder Counter() => Add(new NftCounter());

    public NftRuleBuilder Masquerade() => Add(new NftMasquerade());

    /// <summary>masquerade to :min-max.</summary>
    public NftRuleBuilder Masquerade(ushort minPort, ushort maxPort)
    {
        Add(NftImmediate.Value(NftData.Port(minPort), NftRegisters.NFT_REG_1));
        Add(NftImmediate.Value(NftData.Port(maxPort), NftRegisters.NFT_REG_2));
        return Add(new NftMasquerade(NfNatRange.NF_NAT_RANGE_PROTO_SPECIFIED, NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_2));
    }

    /// <summary>dnat ip[6] to ADDRESS[:PORT].</summary>
    public NftRuleBuilder DestinationNat(IPAddress address, ushort? port = null)
    {
        bool ipv6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        Add(NftImmediate.Value(NftData.Address(address), NftRegisters.NFT_REG_1));
        if (port is ushort p)
        {
            Add(NftImmediate.Value(NftData.Port(p), NftRegisters.NFT_REG_2));
        }
        return Add(NftNat.Create(NftNatType.Destination, ipv6 ? NftFamily.IPv6 : NftFamily.IPv4, NftRegisters.NFT_REG_1, port is null ? null : NftRegisters.NFT_REG_2));
    }

    public NftRuleBuilder Verdict(NftVerdict verdict) => Add(NftImmediate.Of(verdict));

    public NftRuleBuilder Accept() => Verdict(NftVerdict.Accept);

    public NftRuleBuilder Drop() => Verdict(NftVerdict.Drop);

    public NftRuleBuilder Return() => Verdict(NftVerdict.Return);

    public NftRule Build(string table, string chain, string? comment = null) =>
        new(_family, table, chain, _expressions.ToArray()) { Comment = comment };
}
