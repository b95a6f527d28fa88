using System.Buffers.Binary;
using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// "match": an xtables match run through nf_tables' compatibility layer (nft_compat), as iptables-nft writes the
/// matches it has no native translation for. Rules in iptables-nft's own tables must use it where iptables-nft
/// cannot read the native expression back (a native <c>ct state</c> makes <c>iptables -L</c> refuse the whole
/// chain as "incompatible"). <see cref="Info"/> is the match's struct as the xtables extension defines it, padded
/// to 8 bytes (XT_ALIGN).
/// </summary>
public sealed record NftMatch(string MatchName, uint Revision, byte[] Info) : NftExpression
{
    public const string Name = "match";

    internal const ushort NFTA_MATCH_NAME = 1;
    internal const ushort NFTA_MATCH_REV = 2;
    internal const ushort NFTA_MATCH_INFO = 3;

    public override string Kind => Name;

    // struct xt_conntrack_mtinfo3 (linux/netfilter/xt_conntrack.h): eight union nf_inet_addr (128 bytes), expires_min/max
    // (u32 each), l4proto, four ports, match_flags, invert_flags, state_mask, status_mask, four port_high (u16 each): 162
    // bytes, 164 with the struct's 4-byte alignment, 168 after XT_ALIGN.
    private const int ConntrackInfo3Size = 168;
    private const int ConntrackMatchFlagsOffset = 146;
    private const int ConntrackStateMaskOffset = 150;
    /// <summary>XT_CONNTRACK_STATE: match on the state mask.</summary>
    public const ushort XT_CONNTRACK_STATE = 1 << 0;
    /// <summary>XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED), XT_CONNTRACK_STATE_BIT(IP_CT_RELATED), XT_CONNTRACK_STATE_INVALID.</summary>
    public const ushort CtStateEstablished = 1 << 1, CtStateRelated = 1 << 2, CtStateInvalid = 1 << 0, CtStateNew = 1 << 3;

    /// <summary><c>-m conntrack --ctstate STATES</c> (revision 3), as iptables-nft encodes it.</summary>
    public static NftMatch ConntrackState(ushort stateMask)
    {
        byte[] info = new byte[ConntrackInfo3Size];
        BinaryPrimitives.WriteUInt16LittleEndian(info.AsSpan(ConntrackMatchFlagsOffset), XT_CONNTRACK_STATE);
        BinaryPrimitives.WriteUInt16LittleEndian(info.AsSpan(ConntrackStateMaskOffset), stateMask);
        return new NftMatch("conntrack", 3, info);
    }

    /// <summary>The state mask when this is a revision-3 conntrack state match, else null.</summary>
    public ushort? ConntrackStateMask =>
        MatchName == "conntrack" && Revision == 3 && Info.Length >= ConntrackStateMaskOffset + 2
        && (BinaryPrimitives.ReadUInt16LittleEndian(Info.AsSpan(ConntrackMatchFlagsOffset)) & XT_CONNTRACK_STATE) != 0
            ? BinaryPrimitives.ReadUInt16LittleEndian(Info.AsSpan(ConntrackStateMaskOffset))
            : null;

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeString(NFTA_MATCH_NAME, MatchName);
        writer.AttributeU32BigEndian(NFTA_MATCH_REV, Revision);
        writer.Attribute(NFTA_MATCH_INFO, Info);
    }

    internal static NftMatch Read(NetlinkAttributeReader attributes)
    {
        string name = "";
        uint revision = 0;
        byte[] info = [];
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_MATCH_NAME: name = a.String; break;
                case NFTA_MATCH_REV: revision = a.U32BigEndian; break;
                case NFTA_MATCH_INFO: info = a.Value.ToArray(); break;
            }
        }
        return new NftMatch(name, revision, info);
    }

    public override string ToString() => $"match name {MatchName} rev {Revision}";

    public bool Equals(NftMatch? other) =>
        other is not null && MatchName == other.MatchName && Revision == other.Revision && Info.AsSpan().SequenceEqual(other.Info);

    public override int GetHashCode() => HashCode.Combine(MatchName, Revision, Info.Length);
}
