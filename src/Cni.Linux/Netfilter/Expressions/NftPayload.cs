using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>Where a payload offset counts from (enum nft_payload_bases).</summary>
public enum NftPayloadBase : uint
{
    LinkLayer = NftPayload.NFT_PAYLOAD_LL_HEADER,
    Network = NftPayload.NFT_PAYLOAD_NETWORK_HEADER,
    Transport = NftPayload.NFT_PAYLOAD_TRANSPORT_HEADER,
}

/// <summary>"payload": loads <see cref="Length"/> bytes of a packet header into a register.</summary>
public sealed record NftPayload(NftPayloadBase Base, uint Offset, uint Length, uint DestRegister = NftRegisters.NFT_REG_1) : NftExpression
{
    public const string Name = "payload";

    public const uint NFT_PAYLOAD_LL_HEADER = 0;
    public const uint NFT_PAYLOAD_NETWORK_HEADER = 1;
    public const uint NFT_PAYLOAD_TRANSPORT_HEADER = 2;

    internal const ushort NFTA_PAYLOAD_DREG = 1;
    internal const ushort NFTA_PAYLOAD_BASE = 2;
    internal const ushort NFTA_PAYLOAD_OFFSET = 3;
    internal const ushort NFTA_PAYLOAD_LEN = 4;

    public override string Kind => Name;

    /// <summary>ether daddr: the first 6 bytes of the link-layer header (bridge, netdev tables).</summary>
    public static NftPayload EtherDestination(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.LinkLayer, 0, NftData.ETH_ALEN, register);

    /// <summary>ether saddr (offsetof(struct ethhdr, h_source) = 6).</summary>
    public static NftPayload EtherSource(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.LinkLayer, 6, NftData.ETH_ALEN, register);

    /// <summary>ip saddr (offsetof(struct iphdr, saddr) = 12).</summary>
    public static NftPayload Ipv4Source(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Network, 12, 4, register);

    /// <summary>ip daddr (offset 16).</summary>
    public static NftPayload Ipv4Destination(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Network, 16, 4, register);

    /// <summary>ip6 saddr (offsetof(struct ipv6hdr, saddr) = 8).</summary>
    public static NftPayload Ipv6Source(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Network, 8, 16, register);

    /// <summary>ip6 daddr (offset 24).</summary>
    public static NftPayload Ipv6Destination(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Network, 24, 16, register);

    /// <summary>The source address of <paramref name="ipv6"/> packets or IPv4 ones.</summary>
    public static NftPayload Source(bool ipv6, uint register = NftRegisters.NFT_REG_1) => ipv6 ? Ipv6Source(register) : Ipv4Source(register);

    public static NftPayload Destination(bool ipv6, uint register = NftRegisters.NFT_REG_1) => ipv6 ? Ipv6Destination(register) : Ipv4Destination(register);

    /// <summary>th sport: the first two bytes of the transport header (TCP, UDP, SCTP).</summary>
    public static NftPayload TransportSourcePort(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Transport, 0, 2, register);

    /// <summary>th dport (offset 2).</summary>
    public static NftPayload TransportDestinationPort(uint register = NftRegisters.NFT_REG_1) => new(NftPayloadBase.Transport, 2, 2, register);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_PAYLOAD_DREG, DestRegister);
        writer.AttributeU32BigEndian(NFTA_PAYLOAD_BASE, (uint)Base);
        writer.AttributeU32BigEndian(NFTA_PAYLOAD_OFFSET, Offset);
        writer.AttributeU32BigEndian(NFTA_PAYLOAD_LEN, Length);
    }

    internal static NftPayload Read(NetlinkAttributeReader attributes)
    {
        uint dreg = 0, b = 0, offset = 0, length = 0;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_PAYLOAD_DREG: dreg = a.U32BigEndian; break;
                case NFTA_PAYLOAD_BASE: b = a.U32BigEndian; break;
                case NFTA_PAYLOAD_OFFSET: offset = a.U32BigEndian; break;
                case NFTA_PAYLOAD_LEN: length = a.U32BigEndian; break;
            }
        }
        return new NftPayload((NftPayloadBase)b, offset, length, dreg);
    }

    public override string ToString() => $"payload load {Length}b @ {Base} header + {Offset} => reg {DestRegister}";
}
