using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>Set flags (enum nft_set_flags) a caller chooses; NFT_SET_MAP and NFT_SET_CONCAT follow from the types.</summary>
[Flags]
public enum NftSetFlags : uint
{
    None = 0,
    Constant = NftSet.NFT_SET_CONSTANT,
    Interval = NftSet.NFT_SET_INTERVAL,
    Timeout = NftSet.NFT_SET_TIMEOUT,
}

/// <summary>
/// A named set, or a map when <see cref="DataType"/> is given (<see cref="NftDataType.Verdict"/> for a
/// verdict map). Keys and values are bytes laid out as <see cref="NftData"/> encodes them.
/// </summary>
public sealed record NftSet(NftFamily Family, string Table, string Name, NftDataType KeyType)
{
    public const uint NFT_SET_ANONYMOUS = 0x1;
    public const uint NFT_SET_CONSTANT = 0x2;
    public const uint NFT_SET_INTERVAL = 0x4;
    public const uint NFT_SET_MAP = 0x8;
    public const uint NFT_SET_TIMEOUT = 0x10;
    public const uint NFT_SET_CONCAT = 0x80;

    internal const ushort NFTA_SET_TABLE = 1;
    internal const ushort NFTA_SET_NAME = 2;
    internal const ushort NFTA_SET_FLAGS = 3;
    internal const ushort NFTA_SET_KEY_TYPE = 4;
    internal const ushort NFTA_SET_KEY_LEN = 5;
    internal const ushort NFTA_SET_DATA_TYPE = 6;
    internal const ushort NFTA_SET_DATA_LEN = 7;
    internal const ushort NFTA_SET_DESC = 9;
    internal const ushort NFTA_SET_ID = 10;
    internal const ushort NFTA_SET_TIMEOUT = 11;
    internal const ushort NFTA_SET_USERDATA = 13;
    internal const ushort NFTA_SET_HANDLE = 16;

    // enum nft_set_desc_attributes, enum nft_set_field_attributes
    internal const ushort NFTA_SET_DESC_CONCAT = 2;
    internal const ushort NFTA_SET_FIELD_LEN = 1;

    // nftables' enum byteorder, stored in the set's userdata so nft prints keys the right way round.
    internal const uint BYTEORDER_INVALID = 0;
    internal const uint BYTEORDER_HOST_ENDIAN = 1;
    internal const uint BYTEORDER_BIG_ENDIAN = 2;

    // nftables' enum expr_types: the kind of a set's key expression, stored in its "typeof" userdata.
    internal const uint EXPR_CONCAT = 13;

    /// <summary>The value type of a map; null for a plain set.</summary>
    public NftDataType? DataType { get; init; }

    public NftSetFlags Flags { get; init; }

    /// <summary>Default element timeout (requires <see cref="NftSetFlags.Timeout"/>).</summary>
    public TimeSpan? Timeout { get; init; }

    public string? Comment { get; init; }

    public ulong Handle { get; init; }

    public bool IsMap => DataType is not null;

    /// <summary>Raw kernel flags as read back.</summary>
    public uint KernelFlags { get; init; }

    internal uint EncodedFlags()
    {
        uint flags = (uint)Flags;
        if (DataType is not null)
        {
            flags |= NFT_SET_MAP;
        }
        if (KeyType.IsConcatenation && (Flags & NftSetFlags.Interval) != 0)
        {
            flags |= NFT_SET_CONCAT;
        }
        return flags;
    }

    internal void Write(ref NetlinkWriter writer, uint id)
    {
        writer.AttributeString(NFTA_SET_TABLE, Table);
        writer.AttributeString(NFTA_SET_NAME, Name);
        writer.AttributeU32BigEndian(NFTA_SET_FLAGS, EncodedFlags());
        writer.AttributeU32BigEndian(NFTA_SET_KEY_TYPE, KeyType.Id);
        writer.AttributeU32BigEndian(NFTA_SET_KEY_LEN, (uint)KeyType.Length);
        if (DataType is not null)
        {
            writer.AttributeU32BigEndian(NFTA_SET_DATA_TYPE, DataType.Id);
            writer.AttributeU32BigEndian(NFTA_SET_DATA_LEN, (uint)DataType.Length);
        }
        if (Timeout is TimeSpan timeout)
        {
            writer.AttributeU64BigEndian(NFTA_SET_TIMEOUT, (ulong)timeout.TotalMilliseconds);
        }
        if (KeyType.Parts is { } parts && (Flags & NftSetFlags.Interval) != 0)
        {
            using var desc = writer.Nest(NFTA_SET_DESC);
            using var concat = writer.Nest(NFTA_SET_DESC_CONCAT);
            foreach (NftDataType part in parts)
            {
                using var element = writer.Nest(NfTables.NFTA_LIST_ELEM);
                writer.AttributeU32BigEndian(NFTA_SET_FIELD_LEN, (uint)part.Length);
            }
        }
        writer.AttributeU32BigEndian(NFTA_SET_ID, id);
        writer.Attribute(NFTA_SET_USERDATA, UserData());
    }

    private byte[] UserData()
    {
        var blob = new List<byte>();
        Span<byte> u32 = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(u32, ByteOrder(KeyType));
        blob.AddRange(NftUserData.Tlv(NftUserData.NFTNL_UDATA_SET_KEYBYTEORDER, u32));
        if (KeyType.IsConcatenation)
        {
            // Like nft 1.0.6 for "type a . b": the key's expression kind (a concatenation), no part list.
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(u32, EXPR_CONCAT);
            blob.AddRange(NftUserData.Tlv(NftUserData.NFTNL_UDATA_SET_KEY_TYPEOF,
                [.. NftUserData.Tlv(NftUserData.NFTNL_UDATA_SET_TYPEOF_EXPR, u32), .. NftUserData.Tlv(NftUserData.NFTNL_UDATA_SET_TYPEOF_DATA, [])]));
        }
        if (DataType is not null)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(u32, ByteOrder(DataType));
            blob.AddRange(NftUserData.Tlv(NftUserData.NFTNL_UDATA_SET_DATABYTEORDER, u32));
        }
        if (Comment is not null)
        {
            blob.AddRange(NftUserData.Comment(Comment, NftUserData.NFTNL_UDATA_SET_COMMENT));
        }
        return blob.ToArray();
    }

    private static uint ByteOrder(NftDataType type) =>
        type.IsConcatenation || type.IsVerdict ? BYTEORDER_INVALID : type.BigEndian ? BYTEORDER_BIG_ENDIAN : BYTEORDER_HOST_ENDIAN;

    internal static NftSet Read(NetlinkMessage message)
    {
        var family = (NftFamily)message.Payload[0];
        string table = "", name = "";
        uint flags = 0, keyType = 0, keyLen = 0;
        uint? dataType = null;
        uint dataLen = 0;
        ulong handle = 0;
        TimeSpan? timeout = null;
        string? comment = null;
        foreach (NetlinkAttribute a in message.Attributes(Nfnetlink.HeaderSize))
        {
            switch (a.Type)
            {
                case NFTA_SET_TABLE: table = a.String; break;
                case NFTA_SET_NAME: name = a.String; break;
                case NFTA_SET_FLAGS: flags = a.U32BigEndian; break;
                case NFTA_SET_KEY_TYPE: keyType = a.U32BigEndian; break;
                case NFTA_SET_KEY_LEN: keyLen = a.U32BigEndian; break;
                case NFTA_SET_DATA_TYPE: dataType = a.U32BigEndian; break;
                case NFTA_SET_DATA_LEN: dataLen = a.U32BigEndian; break;
                case NFTA_SET_HANDLE: handle = a.U64BigEndian; break;
                case NFTA_SET_TIMEOUT: timeout = TimeSpan.FromMilliseconds(a.U64BigEndian); break;
                case NFTA_SET_USERDATA: comment = NftUserData.ReadComment(a.Value, NftUserData.NFTNL_UDATA_SET_COMMENT); break;
            }
        }
        return new NftSet(family, table, name, new NftDataType(keyType, (int)keyLen, "type " + keyType))
        {
            DataType = dataType is uint dt ? (dt == NftDataType.NFT_DATA_VERDICT ? NftDataType.Verdict : new NftDataType(dt, (int)dataLen, "type " + dt)) : null,
            Flags = (NftSetFlags)(flags & (NFT_SET_CONSTANT | NFT_SET_INTERVAL | NFT_SET_TIMEOUT)),
            KernelFlags = flags,
            Timeout = timeout,
            Comment = comment,
            Handle = handle,
        };
    }
}
