using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// "lookup": set membership of a register (optionally inverted: "!= @set"), or with
/// <see cref="DestRegister"/> a map lookup that loads the mapped value (a verdict map uses
/// NFT_REG_VERDICT, which nft prints as "vmap").
/// </summary>
public sealed record NftLookup(string Set, uint SourceRegister = NftRegisters.NFT_REG_1, uint? DestRegister = null, bool Invert = false, uint? SetId = null) : NftExpression
{
    public const string Name = "lookup";

    public const uint NFT_LOOKUP_F_INV = 1;

    internal const ushort NFTA_LOOKUP_SET = 1;
    internal const ushort NFTA_LOOKUP_SREG = 2;
    internal const ushort NFTA_LOOKUP_DREG = 3;
    internal const ushort NFTA_LOOKUP_SET_ID = 4;
    internal const ushort NFTA_LOOKUP_FLAGS = 5;

    public override string Kind => Name;

    /// <summary>A verdict map: "REG vmap @map".</summary>
    public static NftLookup VerdictMap(string map, uint sourceRegister = NftRegisters.NFT_REG_1) => new(map, sourceRegister, NftRegisters.NFT_REG_VERDICT);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_LOOKUP_SREG, SourceRegister);
        writer.AttributeString(NFTA_LOOKUP_SET, Set);
        if (SetId is uint id)
        {
            writer.AttributeU32BigEndian(NFTA_LOOKUP_SET_ID, id);
        }
        if (DestRegister is uint dreg)
        {
            writer.AttributeU32BigEndian(NFTA_LOOKUP_DREG, dreg);
        }
        if (Invert)
        {
            writer.AttributeU32BigEndian(NFTA_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
        }
    }

    internal static NftLookup Read(NetlinkAttributeReader attributes)
    {
        string set = "";
        uint sreg = 0, flags = 0;
        uint? dreg = null;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_LOOKUP_SET: set = a.String; break;
                case NFTA_LOOKUP_SREG: sreg = a.U32BigEndian; break;
                case NFTA_LOOKUP_DREG: dreg = a.U32BigEndian; break;
                case NFTA_LOOKUP_FLAGS: flags = a.U32BigEndian; break;
            }
        }
        return new NftLookup(set, sreg, dreg, (flags & NFT_LOOKUP_F_INV) != 0);
    }

    public override string ToString() => $"lookup reg {SourceRegister} set {Set}" + (DestRegister is uint d ? $" dreg {d}" : "") + (Invert ? " 0x1" : "");
}
