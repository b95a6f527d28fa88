using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>NAT range flags (NF_NAT_RANGE_*, linux/netfilter/nf_nat.h).</summary>
public static class NfNatRange
{
    public const uint NF_NAT_RANGE_MAP_IPS = 1 << 0;
    public const uint NF_NAT_RANGE_PROTO_SPECIFIED = 1 << 1;
    public const uint NF_NAT_RANGE_PROTO_RANDOM = 1 << 2;
    public const uint NF_NAT_RANGE_PERSISTENT = 1 << 3;
    public const uint NF_NAT_RANGE_PROTO_RANDOM_FULLY = 1 << 4;
}

/// <summary>
/// "masq": source NAT to the address of the outgoing interface; with port registers the source
/// port is taken from that range ("masquerade to :1024-65535").
/// </summary>
public sealed record NftMasquerade(uint Flags = 0, uint? ProtoMinRegister = null, uint? ProtoMaxRegister = null) : NftExpression
{
    public const string Name = "masq";

    internal const ushort NFTA_MASQ_FLAGS = 1;
    internal const ushort NFTA_MASQ_REG_PROTO_MIN = 2;
    internal const ushort NFTA_MASQ_REG_PROTO_MAX = 3;

    public override string Kind => Name;

    internal override void WriteData(ref NetlinkWriter writer)
    {
        if (Flags != 0)
        {
            writer.AttributeU32BigEndian(NFTA_MASQ_FLAGS, Flags);
        }
        if (ProtoMinRegister is uint min)
        {
            writer.AttributeU32BigEndian(NFTA_MASQ_REG_PROTO_MIN, min);
        }
        if (ProtoMaxRegister is uint max)
        {
            writer.AttributeU32BigEndian(NFTA_MASQ_REG_PROTO_MAX, max);
        }
    }

    internal static NftMasquerade Read(NetlinkAttributeReader attributes)
    {
        uint flags = 0;
        uint? min = null, max = null;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_MASQ_FLAGS: flags = a.U32BigEndian; break;
                case NFTA_MASQ_REG_PROTO_MIN: min = a.U32BigEndian; break;
                case NFTA_MASQ_REG_PROTO_MAX: max = a.U32BigEndian; break;
            }
        }
        return new NftMasquerade(flags, min, max);
    }

    public override string ToString() => "masq" + (Flags != 0 ? $" flags 0x{Flags:x}" : "") + (ProtoMinRegister is uint m ? $" proto_min reg {m}" : "");
}
