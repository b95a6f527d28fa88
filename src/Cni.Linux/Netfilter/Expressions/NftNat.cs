using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>NAT types (enum nft_nat_types).</summary>
public enum NftNatType : uint
{
    Source = NftNat.NFT_NAT_SNAT,
    Destination = NftNat.NFT_NAT_DNAT,
}

/// <summary>
/// "nat": snat/dnat to the address (and port) held in registers, for IPv4 or IPv6
/// (<see cref="Family"/> is NFPROTO_IPV4/NFPROTO_IPV6). With an address register the kernel needs
/// NF_NAT_RANGE_MAP_IPS (the kernel sets it), with a port register NF_NAT_RANGE_PROTO_SPECIFIED (<see cref="Create"/> sets it).
/// </summary>
public sealed record NftNat(NftNatType Type, NftFamily Family, uint? AddressMinRegister, uint? AddressMaxRegister, uint? ProtoMinRegister, uint? ProtoMaxRegister, uint Flags) : NftExpression
{
    public const string Name = "nat";

    public const uint NFT_NAT_SNAT = 0;
    public const uint NFT_NAT_DNAT = 1;

    internal const ushort NFTA_NAT_TYPE = 1;
    internal const ushort NFTA_NAT_FAMILY = 2;
    internal const ushort NFTA_NAT_REG_ADDR_MIN = 3;
    internal const ushort NFTA_NAT_REG_ADDR_MAX = 4;
    internal const ushort NFTA_NAT_REG_PROTO_MIN = 5;
    internal const ushort NFTA_NAT_REG_PROTO_MAX = 6;
    internal const ushort NFTA_NAT_FLAGS = 7;

    public override string Kind => Name;

    public static NftNat Create(NftNatType type, NftFamily family, uint? addressRegister, uint? portRegister, uint extraFlags = 0)
    {
        // The kernel adds NF_NAT_RANGE_MAP_IPS itself when an address register is given; nft sends
        // only NF_NAT_RANGE_PROTO_SPECIFIED for a port.
        uint flags = extraFlags;
        if (portRegister is not null)
        {
            flags |= NfNatRange.NF_NAT_RANGE_PROTO_SPECIFIED;
        }
        return new NftNat(type, family, addressRegister, null, portRegister, null, flags);
    }

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_NAT_TYPE, (uint)Type);
        writer.AttributeU32BigEndian(NFTA_NAT_FAMILY, (uint)Family);
        if (AddressMinRegister is uint amin)
        {
            writer.AttributeU32BigEndian(NFTA_NAT_REG_ADDR_MIN, amin);
        }
        if (AddressMaxRegister is uint amax)
        {
            writer.AttributeU32BigEndian(NFTA_NAT_REG_ADDR_MAX, amax);
        }
        if (ProtoMinRegister is uint pmin)
        {
            writer.AttributeU32BigEndian(NFTA_NAT_REG_PROTO_MIN, pmin);
        }
        if (ProtoMaxRegister is uint pmax)
        {
            writer.AttributeU32BigEndian(NFTA_NAT_REG_PROTO_MAX, pmax);
        }
        if (Flags != 0)
        {
            writer.AttributeU32BigEndian(NFTA_NAT_FLAGS, Flags);
        }
    }

    internal static NftNat Read(NetlinkAttributeReader attributes)
    {
        uint type = 0, family = 0, flags = 0;
        uint? amin = null, amax = null, pmin = null, pmax = null;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_NAT_TYPE: type = a.U32BigEndian; break;
                case NFTA_NAT_FAMILY: family = a.U32BigEndian; break;
                case NFTA_NAT_REG_ADDR_MIN: amin = a.U32BigEndian; break;
                case NFTA_NAT_REG_ADDR_MAX: amax = a.U32BigEndian; break;
                case NFTA_NAT_REG_PROTO_MIN: pmin = a.U32BigEndian; break;
                case NFTA_NAT_REG_PROTO_MAX: pmax = a.U32BigEndian; break;
                case NFTA_NAT_FLAGS: flags = a.U32BigEndian; break;
            }
        }
        return new NftNat((NftNatType)type, (NftFamily)family, amin, amax, pmin, pmax, flags);
    }

    public override string ToString() => $"nat {(Type == NftNatType.Source ? "snat" : "dnat")} {Family} addr_min reg {AddressMinRegister} proto_min reg {ProtoMinRegister} flags 0x{Flags:x}";
}
