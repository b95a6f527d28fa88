using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>"immediate": loads a constant into a register; into NFT_REG_VERDICT it is the rule's verdict.</summary>
public sealed record NftImmediate(uint DestRegister, byte[]? Data = null, NftVerdict? Verdict = null) : NftExpression
{
    public const string Name = "immediate";

    internal const ushort NFTA_IMMEDIATE_DREG = 1;
    internal const ushort NFTA_IMMEDIATE_DATA = 2;

    public override string Kind => Name;

    /// <summary>accept, drop, return, jump CHAIN, goto CHAIN.</summary>
    public static NftImmediate Of(NftVerdict verdict) => new(NftRegisters.NFT_REG_VERDICT, null, verdict);

    /// <summary>A value (an address, a port) into a data register.</summary>
    public static NftImmediate Value(byte[] data, uint register = NftRegisters.NFT_REG_1) => new(register, data);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_IMMEDIATE_DREG, DestRegister);
        if (Verdict is NftVerdict verdict)
        {
            NftData.WriteVerdict(ref writer, NFTA_IMMEDIATE_DATA, verdict);
        }
        else
        {
            NftData.WriteValue(ref writer, NFTA_IMMEDIATE_DATA, Data ?? throw new InvalidOperationException("immediate needs data or a verdict"));
        }
    }

    internal static NftImmediate Read(NetlinkAttributeReader attributes)
    {
        uint dreg = 0;
        byte[]? data = null;
        NftVerdict? verdict = null;
        foreach (NetlinkAttribute a in attributes)
        {
            if (a.Type == NFTA_IMMEDIATE_DREG)
            {
                dreg = a.U32BigEndian;
            }
            else if (a.Type == NFTA_IMMEDIATE_DATA)
            {
                (data, verdict) = NftData.Read(a);
            }
        }
        return new NftImmediate(dreg, data, verdict);
    }

    public bool Equals(NftImmediate? other) => other is not null && DestRegister == other.DestRegister && Verdict == other.Verdict
        && (Data ?? []).AsSpan().SequenceEqual(other.Data ?? []);

    public override int GetHashCode() => HashCode.Combine(DestRegister, Verdict);

    public override string ToString() => Verdict is NftVerdict v ? $"immediate reg {DestRegister} {v}" : $"immediate reg {DestRegister} 0x{NftData.Hex(Data)}";
}
