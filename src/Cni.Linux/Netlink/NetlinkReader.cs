using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netlink;

/// <summary>One received netlink message: the nlmsghdr fields and the payload after it.</summary>
public readonly ref struct NetlinkMessage
{
    public NetlinkMessage(ushort type, ushort flags, uint sequence, uint portId, ReadOnlySpan<byte> payload)
    {
        Type = type;
        Flags = flags;
        Sequence = sequence;
        PortId = portId;
        Payload = payload;
    }

    public ushort Type { get; }
    public ushort Flags { get; }
    public uint Sequence { get; }
    public uint PortId { get; }

    /// <summary>Everything after the nlmsghdr: family header, then attributes.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Reads the family header (ifinfomsg, rtmsg, nfgenmsg...) at the start of the payload.</summary>
    public T ReadHeader<T>() where T : unmanaged
    {
        int size = Marshal.SizeOf<T>();
        if (Payload.Length < size)
        {
            throw new InvalidDataException($"netlink message type {Type} shorter than its {typeof(T).Name} header");
        }
        return MemoryMarshal.Read<T>(Payload);
    }

    /// <summary>Attributes following a family header of <paramref name="headerSize"/> bytes.</summary>
    public NetlinkAttributeReader Attributes(int headerSize)
    {
        int offset = Align(headerSize);
        return new NetlinkAttributeReader(offset >= Payload.Length ? ReadOnlySpan<byte>.Empty : Payload.Slice(offset));
    }
}

/// <summary>Iterates the netlink messages packed in one received datagram.</summary>
public ref struct NetlinkMessageReader
{
    private ReadOnlySpan<byte> _remaining;

    public NetlinkMessageReader(ReadOnlySpan<byte> datagram)
    {
        _remaining = datagram;
        Current = default;
    }

    public NetlinkMessage Current { get; private set; }

    public readonly NetlinkMessageReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_remaining.Length < NLMSG_HDRLEN)
        {
            return false;
        }
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(_remaining);
        if (length < NLMSG_HDRLEN || length > (uint)_remaining.Length)
        {
            throw new InvalidDataException($"malformed netlink message length {length}");
        }
        Current = new NetlinkMessage(
            BinaryPrimitives.ReadUInt16LittleEndian(_remaining.Slice(4)),
            BinaryPrimitives.ReadUInt16LittleEndian(_remaining.Slice(6)),
            BinaryPrimitives.ReadUInt32LittleEndian(_remaining.Slice(8)),
            BinaryPrimitives.ReadUInt32LittleEndian(_remaining.Slice(12)),
            _remaining.Slice(NLMSG_HDRLEN, (int)length - NLMSG_HDRLEN));
        int advance = Math.Min(Align((int)length), _remaining.Length);
        _remaining = _remaining.Slice(advance);
        return true;
    }
}

/// <summary>One attribute: its type (flags masked off), whether NLA_F_NESTED was set, its value.</summary>
public readonly ref struct NetlinkAttribute
{
    public NetlinkAttribute(ushort rawType, ReadOnlySpan<byte> value)
    {
        RawType = rawType;
        Value = value;
    }

    /// <summary>The type with NLA_F_NESTED and NLA_F_NET_BYTEORDER removed.</summary>
    public ushort Type => (ushort)(RawType & NLA_TYPE_MASK);

    public ushort RawType { get; }

    public bool IsNested => (RawType & NLA_F_NESTED) != 0;

    public ReadOnlySpan<byte> Value { get; }

    public byte U8 => Value[0];
    public bool Bool => Value.Length > 0 && Value[0] != 0;
    public ushort U16 => BinaryPrimitives.ReadUInt16LittleEndian(Value);
    public uint U32 => BinaryPrimitives.ReadUInt32LittleEndian(Value);
    public int S32 => BinaryPrimitives.ReadInt32LittleEndian(Value);
    public ulong U64 => BinaryPrimitives.ReadUInt64LittleEndian(Value);
    public ushort U16BigEndian => BinaryPrimitives.ReadUInt16BigEndian(Value);
    public uint U32BigEndian => BinaryPrimitives.ReadUInt32BigEndian(Value);
    public ulong U64BigEndian => BinaryPrimitives.ReadUInt64BigEndian(Value);

    /// <summary>The value as a string, up to the first NUL.</summary>
    public string String
    {
        get
        {
            int nul = Value.IndexOf((byte)0);
            return Encoding.UTF8.GetString(nul >= 0 ? Value.Slice(0, nul) : Value);
        }
    }

    /// <summary>A 4- or 16-byte address.</summary>
    public IPAddress Address => new(Value);

    /// <summary>Attributes nested inside this one.</summary>
    public NetlinkAttributeReader Nested => new(Value);
}

/// <summary>Iterates the attributes in a span (top level or nested).</summary>
public ref struct NetlinkAttributeReader
{
    private ReadOnlySpan<byte> _remaining;

    public NetlinkAttributeReader(ReadOnlySpan<byte> attributes)
    {
        _remaining = attributes;
        Current = default;
    }

    public NetlinkAttribute Current { get; private set; }

    public readonly NetlinkAttributeReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_remaining.Length < NLA_HDRLEN)
        {
            return false;
        }
        ushort length = BinaryPrimitives.ReadUInt16LittleEndian(_remaining);
        if (length < NLA_HDRLEN || length > _remaining.Length)
        {
            // Truncated or malformed attribute: stop rather than read garbage.
            _remaining = ReadOnlySpan<byte>.Empty;
            return false;
        }
        Current = new NetlinkAttribute(
            BinaryPrimitives.ReadUInt16LittleEndian(_remaining.Slice(2)),
            _remaining.Slice(NLA_HDRLEN, length - NLA_HDRLEN));
        _remaining = _remaining.Slice(Math.Min(Align(length), _remaining.Length));
        return true;
    }
}
