using System.Buffers.Binary;
using System.Net;
using System.Text;
using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// Values as nf_tables carries them (struct nft_data: NFTA_DATA_VALUE bytes or NFTA_DATA_VERDICT),
/// and encoders for the value kinds rules and set keys use. Multi-byte values are in network order
/// like the packet fields they are compared with.
/// </summary>
public static class NftData
{
    // enum nft_data_attributes
    internal const ushort NFTA_DATA_VALUE = 1;
    internal const ushort NFTA_DATA_VERDICT = 2;

    /// <summary>IFNAMSIZ: interface names are compared as 16 zero-padded bytes.</summary>
    public const int IFNAMSIZ = 16;

    /// <summary>ETH_ALEN: bytes of an Ethernet address.</summary>
    public const int ETH_ALEN = 6;

    /// <summary>NFT_REG32_SIZE: each part of a concatenation occupies a multiple of 4 bytes.</summary>
    public const int NFT_REG32_SIZE = 4;

    public static byte[] Address(IPAddress address) => address.GetAddressBytes();

    public static byte[] Port(ushort port)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, port);
        return b;
    }

    public static byte[] Protocol(byte protocol) => [protocol];

    /// <summary>A 32-bit value in host order (meta mark, ct mark, ct state and status bits).</summary>
    public static byte[] HostU32(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return b;
    }

    /// <summary>An Ethernet address (ether_addr: the 6 bytes in wire order).</summary>
    public static byte[] EtherAddress(ReadOnlySpan<byte> mac) =>
        mac.Length == ETH_ALEN ? mac.ToArray() : throw new ArgumentException($"an Ethernet address has {ETH_ALEN} bytes, not {mac.Length}", nameof(mac));

    /// <summary>An interface name, NUL padded to IFNAMSIZ (exact match, as nft writes "eth0").</summary>
    public static byte[] InterfaceName(string name)
    {
        var b = new byte[IFNAMSIZ];
        int n = Encoding.UTF8.GetBytes(name, b);
        if (n >= IFNAMSIZ)
        {
            throw new ArgumentException($"interface name '{name}' is longer than {IFNAMSIZ - 1} bytes", nameof(name));
        }
        return b;
    }

    /// <summary>The mask that keeps the first <paramref name="prefixLength"/> bits of an address of <paramref name="byteLength"/> bytes.</summary>
    public static byte[] PrefixMask(int byteLength, int prefixLength)
    {
        var mask = new byte[byteLength];
        for (int i = 0; i < byteLength; i++)
        {
            int bits = Math.Clamp(prefixLength - i * 8, 0, 8);
            mask[i] = (byte)(0xFF << (8 - bits));
        }
        return mask;
    }

    /// <summary>The address with host bits cleared.</summary>
    public static byte[] Network(IPAddress address, int prefixLength)
    {
        byte[] bytes = address.GetAddressBytes();
        byte[] mask = PrefixMask(bytes.Length, prefixLength);
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] &= mask[i];
        }
        return bytes;
    }

    /// <summary>The last address of the prefix: host bits set.</summary>
    public static byte[] LastAddress(IPAddress address, int prefixLength)
    {
        byte[] bytes = address.GetAddressBytes();
        byte[] mask = PrefixMask(bytes.Length, prefixLength);
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] |= (byte)~mask[i];
        }
        return bytes;
    }

    /// <summary>
    /// A concatenation (nft's "a . b"): each part padded with zeros to a multiple of 4 bytes,
    /// matching consecutive 32-bit registers.
    /// </summary>
    public static byte[] Concat(params byte[][] parts)
    {
        int total = 0;
        foreach (byte[] p in parts)
        {
            total += RoundUp(p.Length);
        }
        var result = new byte[total];
        int offset = 0;
        foreach (byte[] p in parts)
        {
            p.CopyTo(result, offset);
            offset += RoundUp(p.Length);
        }
        return result;
    }

    internal static int RoundUp(int length) => (length + NFT_REG32_SIZE - 1) & ~(NFT_REG32_SIZE - 1);

    /// <summary>Writes <c>type { NFTA_DATA_VALUE bytes }</c>.</summary>
    internal static void WriteValue(ref NetlinkWriter writer, ushort type, ReadOnlySpan<byte> value)
    {
        using var nest = writer.Nest(type);
        writer.Attribute(NFTA_DATA_VALUE, value);
    }

    /// <summary>Writes <c>type { NFTA_DATA_VERDICT { code, chain } }</c>.</summary>
    internal static void WriteVerdict(ref NetlinkWriter writer, ushort type, NftVerdict verdict)
    {
        using var nest = writer.Nest(type);
        using var inner = writer.Nest(NFTA_DATA_VERDICT);
        verdict.Write(ref writer);
    }

    /// <summary>Reads an nft_data nest: its value bytes, or its verdict.</summary>
    internal static (byte[]? Value, NftVerdict? Verdict) Read(NetlinkAttribute nest)
    {
        foreach (NetlinkAttribute a in nest.Nested)
        {
            if (a.Type == NFTA_DATA_VALUE)
            {
                return (a.Value.ToArray(), null);
            }
            if (a.Type == NFTA_DATA_VERDICT)
            {
                return (null, NftVerdict.Read(a.Nested));
            }
        }
        return (null, null);
    }

    internal static string Hex(ReadOnlySpan<byte> value) => Convert.ToHexString(value).ToLowerInvariant();
}

/// <summary>Verdict codes (NF_DROP, NF_ACCEPT, enum nft_verdicts).</summary>
public enum NftVerdictCode
{
    Drop = NftVerdict.NF_DROP,
    Accept = NftVerdict.NF_ACCEPT,
    Continue = NftVerdict.NFT_CONTINUE,
    Break = NftVerdict.NFT_BREAK,
    Jump = NftVerdict.NFT_JUMP,
    Goto = NftVerdict.NFT_GOTO,
    Return = NftVerdict.NFT_RETURN,
}

/// <summary>A verdict: accept, drop, return, or jump/goto a chain.</summary>
public readonly record struct NftVerdict(NftVerdictCode Code, string? Chain = null)
{
    public const int NF_DROP = 0;
    public const int NF_ACCEPT = 1;
    public const int NFT_CONTINUE = -1;
    public const int NFT_BREAK = -2;
    public const int NFT_JUMP = -3;
    public const int NFT_GOTO = -4;
    public const int NFT_RETURN = -5;

    // enum nft_verdict_attributes
    internal const ushort NFTA_VERDICT_CODE = 1;
    internal const ushort NFTA_VERDICT_CHAIN = 2;

    public static NftVerdict Accept => new(NftVerdictCode.Accept);
    public static NftVerdict Drop => new(NftVerdictCode.Drop);
    public static NftVerdict Return => new(NftVerdictCode.Return);
    public static NftVerdict Continue => new(NftVerdictCode.Continue);
    public static NftVerdict Jump(string chain) => new(NftVerdictCode.Jump, chain);
    public static NftVerdict Goto(string chain) => new(NftVerdictCode.Goto, chain);

    internal void Write(ref NetlinkWriter writer)
    {
        writer.AttributeU32BigEndian(NFTA_VERDICT_CODE, (uint)(int)Code);
        if (Code is NftVerdictCode.Jump or NftVerdictCode.Goto)
        {
            writer.AttributeString(NFTA_VERDICT_CHAIN, Chain ?? throw new InvalidOperationException("jump/goto needs a chain"));
        }
    }

    internal static NftVerdict Read(NetlinkAttributeReader attributes)
    {
        var code = NftVerdictCode.Continue;
        string? chain = null;
        foreach (NetlinkAttribute a in attributes)
        {
            if (a.Type == NFTA_VERDICT_CODE)
            {
                code = (NftVerdictCode)(int)a.U32BigEndian;
            }
            else if (a.Type == NFTA_VERDICT_CHAIN)
            {
                chain = a.String;
            }
        }
        return new NftVerdict(code, chain);
    }

    public override string ToString() => Code switch
    {
        NftVerdictCode.Jump => "jump " + Chain,
        NftVerdictCode.Goto => "goto " + Chain,
        _ => Code.ToString().ToLowerInvariant(),
    };
}
