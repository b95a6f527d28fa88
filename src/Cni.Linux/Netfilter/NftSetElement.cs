using System.Net;
using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// One set or map element (enum nft_set_elem_attributes): its key, for maps the value
/// (<see cref="Data"/>) or verdict, userdata with the comment, an optional timeout and expiration. In an interval
/// set (rbtree) a range is two elements: its start, and its end (exclusive) flagged
/// NFT_SET_ELEM_INTERVAL_END; <see cref="Prefix"/> builds both.
/// </summary>
public sealed record NftSetElement(byte[] Key)
{
    public const uint NFT_SET_ELEM_INTERVAL_END = 0x1;

    internal const ushort NFTA_SET_ELEM_KEY = 1;
    internal const ushort NFTA_SET_ELEM_DATA = 2;
    internal const ushort NFTA_SET_ELEM_FLAGS = 3;
    internal const ushort NFTA_SET_ELEM_TIMEOUT = 4;
    internal const ushort NFTA_SET_ELEM_EXPIRATION = 5;
    internal const ushort NFTA_SET_ELEM_USERDATA = 6;
    internal const ushort NFTA_SET_ELEM_OBJREF = 9;
    internal const ushort NFTA_SET_ELEM_KEY_END = 10;

    // enum nft_set_elem_list_attributes
    internal const ushort NFTA_SET_ELEM_LIST_TABLE = 1;
    internal const ushort NFTA_SET_ELEM_LIST_SET = 2;
    internal const ushort NFTA_SET_ELEM_LIST_ELEMENTS = 3;
    internal const ushort NFTA_SET_ELEM_LIST_SET_ID = 4;

    /// <summary>Closing key of a range in a concatenated interval set (NFTA_SET_ELEM_KEY_END).</summary>
    public byte[]? KeyEnd { get; init; }

    /// <summary>Map value bytes.</summary>
    public byte[]? Data { get; init; }

    /// <summary>Verdict map value.</summary>
    public NftVerdict? Verdict { get; init; }

    public uint Flags { get; init; }

    /// <summary>The element's lifetime (NFTA_SET_ELEM_TIMEOUT, milliseconds; needs a set with <see cref="NftSetFlags.Timeout"/>).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// Time until the element expires (NFTA_SET_ELEM_EXPIRATION, milliseconds). Sent: when it expires, counted from
    /// the commit; read back: the time left. Needs a set with <see cref="NftSetFlags.Timeout"/> and an element with a
    /// timeout (its own or the set's). See <see cref="NftTransaction.ExpireElements"/>.
    /// </summary>
    public TimeSpan? Expiration { get; init; }

    public byte[]? UserData { get; init; }

    /// <summary>The comment `nft list` prints; stored as NFTNL_UDATA_SET_ELEM_COMMENT.</summary>
    public string? Comment
    {
        get => UserData is null ? null : NftUserData.ReadComment(UserData, NftUserData.NFTNL_UDATA_SET_ELEM_COMMENT);
        init => UserData = value is null ? null : NftUserData.Comment(value, NftUserData.NFTNL_UDATA_SET_ELEM_COMMENT);
    }

    public bool IsIntervalEnd => (Flags & NFT_SET_ELEM_INTERVAL_END) != 0;

    /// <summary>The start and end elements of a prefix in an interval set (one element when the range reaches the top).</summary>
    public static IReadOnlyList<NftSetElement> Prefix(IPAddress address, int prefixLength, string? comment = null)
    {
        byte[] start = NftData.Network(address, prefixLength);
        byte[] end = (byte[])start.Clone();
        // end = start + 2^(bits - prefix): add one at the last prefix bit, carrying.
        bool overflow = true;
        if (prefixLength > 0)
        {
            int bit = prefixLength - 1;
            int carry = 1 << (7 - (bit % 8));
            for (int i = bit / 8; i >= 0 && carry != 0; i--)
            {
                int sum = end[i] + carry;
                end[i] = (byte)sum;
                carry = sum >> 8;
            }
            overflow = carry != 0;
        }
        var first = new NftSetElement(start) { Comment = comment };
        return overflow ? [first] : [first, new NftSetElement(end) { Flags = NFT_SET_ELEM_INTERVAL_END }];
    }

    /// <summary>
    /// A range <paramref name="first"/> … <paramref name="last"/> (both inclusive) as one element of a
    /// concatenated interval set (pipapo): NFTA_SET_ELEM_KEY and NFTA_SET_ELEM_KEY_END, no end flag.
    /// </summary>
    public static NftSetElement Range(byte[] first, byte[] last, string? comment = null)
    {
        if (first.Length != last.Length)
        {
            throw new ArgumentException("range ends differ in length", nameof(last));
        }
        return new NftSetElement(first) { KeyEnd = last, Comment = comment };
    }

    internal void Write(ref NetlinkWriter writer, bool keyOnly)
    {
        using var element = writer.Nest(NfTables.NFTA_LIST_ELEM);
        NftData.WriteValue(ref writer, NFTA_SET_ELEM_KEY, Key);
        if (KeyEnd is not null)
        {
            NftData.WriteValue(ref writer, NFTA_SET_ELEM_KEY_END, KeyEnd);
        }
        if (Flags != 0)
        {
            writer.AttributeU32BigEndian(NFTA_SET_ELEM_FLAGS, Flags);
        }
        if (keyOnly)
        {
            return;
        }
        if (Verdict is NftVerdict verdict)
        {
            NftData.WriteVerdict(ref writer, NFTA_SET_ELEM_DATA, verdict);
        }
        else if (Data is not null)
        {
            NftData.WriteValue(ref writer, NFTA_SET_ELEM_DATA, Data);
        }
        if (Timeout is TimeSpan timeout)
        {
            writer.AttributeU64BigEndian(NFTA_SET_ELEM_TIMEOUT, (ulong)timeout.TotalMilliseconds);
        }
        if (Expiration is TimeSpan expiration)
        {
            writer.AttributeU64BigEndian(NFTA_SET_ELEM_EXPIRATION, (ulong)expiration.TotalMilliseconds);
        }
        if (UserData is not null)
        {
            writer.Attribute(NFTA_SET_ELEM_USERDATA, UserData);
        }
    }

    internal static void ReadAll(NetlinkMessage message, List<NftSetElement> into)
    {
        foreach (NetlinkAttribute a in message.Attributes(Nfnetlink.HeaderSize))
        {
            if (a.Type != NFTA_SET_ELEM_LIST_ELEMENTS)
            {
                continue;
            }
            foreach (NetlinkAttribute e in a.Nested)
            {
                if (e.Type == NfTables.NFTA_LIST_ELEM)
                {
                    into.Add(Read(e.Nested));
                }
            }
        }
    }

    private static NftSetElement Read(NetlinkAttributeReader attributes)
    {
        byte[] key = [];
        byte[]? keyEnd = null, data = null, userData = null;
        NftVerdict? verdict = null;
        uint flags = 0;
        TimeSpan? timeout = null, expiration = null;
        foreach (NetlinkAttribute a in attributes)
        {
            switch (a.Type)
            {
                case NFTA_SET_ELEM_KEY: key = NftData.Read(a).Value ?? []; break;
                case NFTA_SET_ELEM_KEY_END: keyEnd = NftData.Read(a).Value; break;
                case NFTA_SET_ELEM_DATA: (data, verdict) = NftData.Read(a); break;
                case NFTA_SET_ELEM_FLAGS: flags = a.U32BigEndian; break;
                case NFTA_SET_ELEM_TIMEOUT: timeout = TimeSpan.FromMilliseconds(a.U64BigEndian); break;
                case NFTA_SET_ELEM_EXPIRATION: expiration = TimeSpan.FromMilliseconds(a.U64BigEndian); break;
                case NFTA_SET_ELEM_USERDATA: userData = a.Value.ToArray(); break;
            }
        }
        return new NftSetElement(key) { KeyEnd = keyEnd, Data = data, Verdict = verdict, Flags = flags, Timeout = timeout, Expiration = expiration, UserData = userData };
    }

    public override string ToString() => NftData.Hex(Key)
        + (KeyEnd is not null ? "-" + NftData.Hex(KeyEnd) : "")
        + (IsIntervalEnd ? " [end]" : "")
        + (Verdict is NftVerdict v ? " : " + v : Data is not null ? " : " + NftData.Hex(Data) : "")
        + (Comment is string c ? $" comment \"{c}\"" : "");
}
