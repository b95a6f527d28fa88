using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>Packet metadata keys (enum nft_meta_keys).</summary>
public enum NftMetaKey : uint
{
    Length = NftMeta.NFT_META_LEN,
    Protocol = NftMeta.NFT_META_PROTOCOL,
    Mark = NftMeta.NFT_META_MARK,
    InputInterface = NftMeta.NFT_META_IIF,
    OutputInterface = NftMeta.NFT_META_OIF,
    InputInterfaceName = NftMeta.NFT_META_IIFNAME,
    OutputInterfaceName = NftMeta.NFT_META_OIFNAME,
    NfProto = NftMeta.NFT_META_NFPROTO,
    L4Proto = NftMeta.NFT_META_L4PROTO,
    BridgeInputInterfaceName = NftMeta.NFT_META_BRI_IIFNAME,
    BridgeOutputInterfaceName = NftMeta.NFT_META_BRI_OIFNAME,
}

/// <summary>
/// "meta": loads packet metadata into a register (<see cref="DestRegister"/>), or with
/// <see cref="SourceRegister"/> sets it (meta mark set).
/// </summary>
public sealed record NftMeta(NftMetaKey Key, uint DestRegister = NftRegisters.NFT_REG_1, uint? SourceRegister = null) : NftExpression
{
    public const string Name = "meta";

    public const uint NFT_META_LEN = 0;
    public const uint NFT_META_PROTOCOL = 1;
    public const uint NFT_META_MARK = 3;
    public const uint NFT_META_IIF = 4;
    public const uint NFT_META_OIF = 5;
    public const uint NFT_META_IIFNAME = 6;
    public const uint NFT_META_OIFNAME = 7;
    public const uint NFT_META_NFPROTO = 15;
    public const uint NFT_META_L4PROTO = 16;
    public const uint NFT_META_BRI_IIFNAME = 17;
    public const uint NFT_META_BRI_OIFNAME = 18;

    internal const ushort NFTA_META_DREG = 1;
    internal const ushort NFTA_META_KEY = 2;
    internal const ushort NFTA_META_SREG = 3;

    public override string Kind => Name;

    /// <summary>meta KEY set REGISTER.</summary>
    public static NftMeta Set(NftMetaKey key, uint sourceRegister) => new(key, 0, sourceRegister);

    internal override void WriteData(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_META_KEY, (uint)Key);
        if (SourceRegister is uint sreg)
        {
            writer.AttributeU32BigEndian(NFTA_META_SREG, sreg);
        }
        else
        {
            writer.AttributeU32BigEndian(NFTA_META_DREG, DestRegister);
        }
    }

    internal static NftMeta Read(NetlinkAttributeReader attributes)
    {
        uint key = 0, dreg = 0;
        uint? sreg = null;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_META_KEY: key = a.U32BigEndian; break;
                case NFTA_META_DREG: dreg = a.U32BigEndian; break;
                case NFTA_META_SREG: sreg = a.U32BigEndian; break;
            }
        }
        return new NftMeta((NftMetaKey)key, dreg, sreg);
    }

    public override string ToString() => SourceRegister is uint s ? $"meta set {Key} with reg {s}" : $"meta load {Key} => reg {DestRegister}";
}
