namespace Cni.Linux.Netfilter;

/// <summary>
/// The type of a set key or map value as nft names it (nftables' enum datatypes, which nft stores
/// in NFTA_SET_KEY_TYPE / NFTA_SET_DATA_TYPE so `nft list` can print the elements), and its length
/// in bytes. Concatenations combine the ids 6 bits at a time and pad each part to 4 bytes.
/// </summary>
public sealed record NftDataType(uint Id, int Length, string Name, bool BigEndian = true)
{
    /// <summary>The parts of a concatenation, else null.</summary>
    public IReadOnlyList<NftDataType>? Parts { get; init; }

    // nftables' enum datatypes (src/datatype.h).
    public const uint TYPE_VERDICT = 1;
    public const uint TYPE_INTEGER = 4;
    public const uint TYPE_IPADDR = 7;
    public const uint TYPE_IP6ADDR = 8;
    public const uint TYPE_ETHERADDR = 9;
    public const uint TYPE_INET_PROTOCOL = 12;
    public const uint TYPE_INET_SERVICE = 13;
    public const uint TYPE_MARK = 19;
    public const uint TYPE_IFNAME = 41;
    public const int TYPE_BITS = 6;

    /// <summary>NFT_DATA_VERDICT: the data type of a verdict map.</summary>
    public const uint NFT_DATA_VERDICT = 0xffffff00;

    public static readonly NftDataType Ipv4Address = new(TYPE_IPADDR, 4, "ipv4_addr");
    public static readonly NftDataType Ipv6Address = new(TYPE_IP6ADDR, 16, "ipv6_addr");
    public static readonly NftDataType EtherAddress = new(TYPE_ETHERADDR, NftData.ETH_ALEN, "ether_addr");
    public static readonly NftDataType InetProtocol = new(TYPE_INET_PROTOCOL, 1, "inet_proto");
    public static readonly NftDataType InetService = new(TYPE_INET_SERVICE, 2, "inet_service");
    public static readonly NftDataType InterfaceName = new(TYPE_IFNAME, NftData.IFNAMSIZ, "ifname", BigEndian: false);
    public static readonly NftDataType Mark = new(TYPE_MARK, 4, "mark", BigEndian: false);

    /// <summary>The data "type" of a verdict map.</summary>
    public static readonly NftDataType Verdict = new(NFT_DATA_VERDICT, 0, "verdict");

    public bool IsConcatenation => Parts is not null;

    public bool IsVerdict => Id == NFT_DATA_VERDICT;

    /// <summary>"a . b . c": each part padded to 4 bytes.</summary>
    public static NftDataType Concat(params NftDataType[] parts)
    {
        if (parts.Length < 2)
        {
            throw new ArgumentException("a concatenation has at least two parts", nameof(parts));
        }
        uint id = 0;
        int length = 0;
        foreach (NftDataType p in parts)
        {
            id = (id << TYPE_BITS) | p.Id;
            length += NftData.RoundUp(p.Length);
        }
        return new NftDataType(id, length, string.Join(" . ", parts.Select(p => p.Name)), BigEndian: false) { Parts = parts };
    }

    public override string ToString() => Name;
}

/// <summary>nf_tables registers (enum nft_registers).</summary>
public static class NftRegisters
{
    public const uint NFT_REG_VERDICT = 0;
    public const uint NFT_REG_1 = 1;
    public const uint NFT_REG_2 = 2;
    public const uint NFT_REG_3 = 3;
    public const uint NFT_REG_4 = 4;
    public const uint NFT_REG32_00 = 8;

    /// <summary>
    /// The register at <paramref name="byteOffset"/> bytes into register 1, for the parts of a
    /// concatenation, numbered the way nft numbers it (netlink_put_register): a 16-byte aligned offset
    /// as a 128-bit register (NFT_REG_1 + n), any other as a 32-bit one (NFT_REG32_00 + n). So "ip saddr
    /// . ip daddr" loads into reg 1 and reg 9, "iifname . ether saddr" into reg 1 and reg 2.
    /// </summary>
    public static uint Reg32At(int byteOffset)
    {
        if (byteOffset < 0 || byteOffset % NftData.NFT_REG32_SIZE != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(byteOffset), "a register starts at a multiple of 4 bytes");
        }
        int reg32 = byteOffset / NftData.NFT_REG32_SIZE;
        return reg32 % NFT_REG32_PER_REG == 0 ? NFT_REG_1 + (uint)(reg32 / NFT_REG32_PER_REG) : NFT_REG32_00 + (uint)reg32;
    }

    /// <summary>NFT_REG_SIZE / NFT_REG32_SIZE: 32-bit registers per 128-bit one.</summary>
    private const int NFT_REG32_PER_REG = 4;
}
