using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>Comparison operators (enum nft_cmp_ops).</summary>
public enum NftCmpOp : uint
{
    Eq = NftCmp.NFT_CMP_EQ,
    Neq = NftCmp.NFT_CMP_NEQ,
    Lt = NftCmp.NFT_CMP_LT,
    Lte = NftCmp.NFT_CMP_LTE,
    Gt = NftCmp.NFT_CMP_GT,
    Gte = NftCmp.NFT_CMP_GTE,
}

/// <summary>"cmp": compares a register with constant bytes; a false comparison ends the rule.</summary>
public sealed record NftCmp(NftCmpOp Op, byte[] Data, uint SourceRegister = NftRegisters.NFT_REG_1) : NftExpression
{
    public const string Name = "cmp";

    public const uint NFT_CMP_EQ = 0;
    public const uint NFT_CMP_NEQ = 1;
    public const uint NFT_CMP_LT = 2;
    public const uint NFT_CMP_LTE = 3;
    public const uint NFT_CMP_GT = 4;
    public const uint NFT_CMP_GTE = 5;

    internal const ushort NFTA_CMP_SREG = 1;
    internal const ushort NFTA_CMP_OP = 2;
    internal const ushort NFTA_CMP_DATA = 3;

    public override string Kind => Name;

    public static NftCmp Equal(byte[] data, uint register = NftRegisters.NFT_REG_1) => new(NftCmpOp.Eq, data, register);

    public static NftCmp NotEqual(byte[] data, uint register = NftRegisters.NFT_REG_1) => new(NftCmpOp.Neq, data, register);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_CMP_SREG, SourceRegister);
        writer.AttributeU32BigEndian(NFTA_CMP_OP, (uint)Op);
        NftData.WriteValue(ref writer, NFTA_CMP_DATA, Data);
    }

    internal static NftCmp Read(NetlinkAttributeReader attributes)
    {
        uint sreg = 0, op = 0;
        byte[] data = [];
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_CMP_SREG: sreg = a.U32BigEndian; break;
                case NFTA_CMP_OP: op = a.U32BigEndian; break;
                case NFTA_CMP_DATA: data = NftData.Read(a).Value ?? []; break;
            }
        }
        return new NftCmp((NftCmpOp)op, data, sreg);
    }

    public bool Equals(NftCmp? other) => other is not null && Op == other.Op && SourceRegister == other.SourceRegister && Data.AsSpan().SequenceEqual(other.Data);

    public override int GetHashCode() => HashCode.Combine(Op, SourceRegister, Data.Length);

    public override string ToString() => $"cmp {Op.ToString().ToLowerInvariant()} reg {SourceRegister} 0x{NftData.Hex(Data)}";
}
