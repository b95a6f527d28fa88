using System.Text;

namespace Cni.Linux.Netfilter;

/// <summary>
/// The userdata format nft (libnftnl's nftnl_udata) stores in rules, chains, sets and elements:
/// a sequence of TLVs, one byte type, one byte length, then the value. A comment is a
/// NUL-terminated string, which is what `nft list ruleset` prints after "comment".
/// </summary>
public static class NftUserData
{
    // Comment TLV type per object (libnftnl's enum nftnl_udata_*_types).
    public const byte NFTNL_UDATA_TABLE_COMMENT = 0;
    public const byte NFTNL_UDATA_CHAIN_COMMENT = 0;
    public const byte NFTNL_UDATA_RULE_COMMENT = 0;
    public const byte NFTNL_UDATA_SET_ELEM_COMMENT = 0;
    public const byte NFTNL_UDATA_SET_KEYBYTEORDER = 0;
    public const byte NFTNL_UDATA_SET_DATABYTEORDER = 1;
    public const byte NFTNL_UDATA_SET_KEY_TYPEOF = 3;
    public const byte NFTNL_UDATA_SET_COMMENT = 7;

    // Inside NFTNL_UDATA_SET_KEY_TYPEOF (nftables' enum nftnl_udata_set_typeof_types).
    public const byte NFTNL_UDATA_SET_TYPEOF_EXPR = 0;
    public const byte NFTNL_UDATA_SET_TYPEOF_DATA = 1;

    /// <summary>NFT_USERDATA_MAXLEN: the kernel's limit on any userdata blob.</summary>
    public const int NFT_USERDATA_MAXLEN = 256;

    /// <summary>NFTNL_UDATA_COMMENT_MAXLEN (bytes, including the NUL).</summary>
    public const int NFTNL_UDATA_COMMENT_MAXLEN = 128;

    /// <summary>One comment TLV.</summary>
    public static byte[] Comment(string comment, byte type = NFTNL_UDATA_RULE_COMMENT)
    {
        int n = Encoding.UTF8.GetByteCount(comment);
        if (n + 1 > NFTNL_UDATA_COMMENT_MAXLEN)
        {
            throw new ArgumentException($"comment longer than {NFTNL_UDATA_COMMENT_MAXLEN - 1} bytes", nameof(comment));
        }
        if (comment.Contains('\0'))
        {
            throw new ArgumentException("comment contains NUL", nameof(comment));
        }
        var tlv = new byte[2 + n + 1];
        tlv[0] = type;
        tlv[1] = (byte)(n + 1);
        Encoding.UTF8.GetBytes(comment, tlv.AsSpan(2));
        return tlv;
    }

    /// <summary>Appends a TLV with a raw value.</summary>
    public static byte[] Tlv(byte type, ReadOnlySpan<byte> value)
    {
        if (value.Length > 255)
        {
            throw new ArgumentException("userdata value longer than 255 bytes", nameof(value));
        }
        var tlv = new byte[2 + value.Length];
        tlv[0] = type;
        tlv[1] = (byte)value.Length;
        value.CopyTo(tlv.AsSpan(2));
        return tlv;
    }

    /// <summary>
    /// The value of the first TLV of <paramref name="type"/> in a userdata blob, or null. nft ignores
    /// element TLV types it does not know, so a tool may keep its own record next to the comment.
    /// </summary>
    public static byte[]? Find(ReadOnlySpan<byte> userData, byte type)
    {
        while (userData.Length >= 2)
        {
            int len = userData[1];
            if (2 + len > userData.Length)
            {
                return null;
            }
            if (userData[0] == type)
            {
                return userData.Slice(2, len).ToArray();
            }
            userData = userData[(2 + len)..];
        }
        return null;
    }

    /// <summary>Finds the comment TLV of <paramref name="type"/> in a userdata blob.</summary>
    public static string? ReadComment(ReadOnlySpan<byte> userData, byte type = NFTNL_UDATA_RULE_COMMENT)
    {
        while (userData.Length >= 2)
        {
            byte t = userData[0];
            int len = userData[1];
            if (2 + len > userData.Length)
            {
                return null;
            }
            ReadOnlySpan<byte> value = userData.Slice(2, len);
            if (t == type)
            {
                int nul = value.IndexOf((byte)0);
                return Encoding.UTF8.GetString(nul >= 0 ? value[..nul] : value);
            }
            userData = userData[(2 + len)..];
        }
        return null;
    }
}
