using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>"bitwise" (mask-and-xor): dreg = (sreg &amp; mask) ^ xor; nft uses it for prefixes ("ip saddr 10.0.0.0/8").</summary>
public sealed record NftBitwise(uint SourceRegister, uint DestRegister, byte[] Mask, byte[] Xor) : NftExpression
{
    public const string Name = "bitwise";

    public const uint NFT_BITWISE_MASK_XOR = 0;

    internal const ushort NFTA_BITWISE_SREG = 1;
    internal const ushort NFTA_BITWISE_DREG = 2;
    internal const ushort NFTA_BITWISE_LEN = 3;
    internal const ushort NFTA_BITWISE_MASK = 4;
    internal const ushort NFTA_BITWISE_XOR = 5;

    public override string Kind => Name;

    /// <summary>Keeps the first <paramref name="prefixLength"/> bits of an address-sized register.</summary>
    public static NftBitwise Prefix(int byteLength, int prefixLength, uint register = NftRegisters.NFT_REG_1)
        => new(register, register, NftData.PrefixMask(byteLength, prefixLength), new byte[byteLength]);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_BITWISE_SREG, SourceRegister);
        writer.AttributeU32BigEndian(NFTA_BITWISE_DREG, DestRegister);
        writer.AttributeU32BigEndian(NFTA_BITWISE_LEN, (uint)Mask.Length);
        NftData.WriteValue(ref writer, NFTA_BITWISE_MASK, Mask);
        NftData.WriteValue(ref writer, NFTA_BITWISE_XOR, Xor);
    }

    internal static NftBitwise Read(NetlinkAttributeReader attributes)
    {
        uint sreg = 0, dreg = 0;
        byte[] mask = [], xor = [];
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_BITWISE_SREG: sreg = a.U32BigEndian; break;
                case NFTA_BITWISE_DREG: dreg = a.U32BigEndian; break;
                case NFTA_BITWISE_MASK: mask = NftData.Read(a).Value ?? []; break;
                case NFTA_BITWISE_XOR: xor = NftData.Read(a).Value ?? []; break;
            }
        }
        return new NftBitwise(sreg, dreg, mask, xor);
    }

    public bool Equals(NftBitwise? other) => other is not null && SourceRegister == other.SourceRegister && DestRegister == other.DestRegister
        && Mask.AsSpan().SequenceEqual(other.Mask) && Xor.AsSpan().SequenceEqual(other.Xor);

    public override int GetHashCode() => HashCode.Combine(SourceRegister, DestRegister, Mask.Length);

    public override string ToString() => $"bitwise reg {DestRegister} = (reg {SourceRegister} & 0x{NftData.Hex(Mask)}) ^ 0x{NftData.Hex(Xor)}";
}
