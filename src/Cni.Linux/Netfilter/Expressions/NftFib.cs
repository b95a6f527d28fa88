using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>"fib": a routing lookup for the packet; "fib daddr type" loads the address type (RTN_LOCAL...).</summary>
public sealed record NftFib(uint Result, uint Flags, uint DestRegister = NftRegisters.NFT_REG_1) : NftExpression
{
    public const string Name = "fib";

    // enum nft_fib_result
    public const uint NFT_FIB_RESULT_OIF = 1;
    public const uint NFT_FIB_RESULT_OIFNAME = 2;
    public const uint NFT_FIB_RESULT_ADDRTYPE = 3;

    // enum nft_fib_flags
    public const uint NFTA_FIB_F_SADDR = 1 << 0;
    public const uint NFTA_FIB_F_DADDR = 1 << 1;
    public const uint NFTA_FIB_F_MARK = 1 << 2;
    public const uint NFTA_FIB_F_IIF = 1 << 3;
    public const uint NFTA_FIB_F_OIF = 1 << 4;

    /// <summary>RTN_LOCAL (linux/rtnetlink.h): the value "fib daddr type local" compares with, host order u32.</summary>
    public const uint RTN_LOCAL = 2;

    internal const ushort NFTA_FIB_DREG = 1;
    internal const ushort NFTA_FIB_RESULT = 2;
    internal const ushort NFTA_FIB_FLAGS = 3;

    public override string Kind => Name;

    /// <summary>fib daddr type: loads the type of the destination address.</summary>
    public static NftFib DestinationAddressType(uint register = NftRegisters.NFT_REG_1) => new(NFT_FIB_RESULT_ADDRTYPE, NFTA_FIB_F_DADDR, register);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_FIB_FLAGS, Flags);
        writer.AttributeU32BigEndian(NFTA_FIB_RESULT, Result);
        writer.AttributeU32BigEndian(NFTA_FIB_DREG, DestRegister);
    }

    internal static NftFib Read(NetlinkAttributeReader attributes)
    {
        uint dreg = 0, result = 0, flags = 0;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_FIB_DREG: dreg = a.U32BigEndian; break;
                case NFTA_FIB_RESULT: result = a.U32BigEndian; break;
                case NFTA_FIB_FLAGS: flags = a.U32BigEndian; break;
            }
        }
        return new NftFib(result, flags, dreg);
    }

    public override string ToString() => $"fib result {Result} flags 0x{Flags:x} => reg {DestRegister}";
}
