using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netlink;

/// <summary>
/// Builds one or more netlink messages (a batch) in a pooled buffer: nlmsghdr, a family header,
/// then attributes. Nested attributes are opened with <see cref="Nest"/> and closed by disposing
/// the returned scope, which back-patches the length. Dispose the writer to return the buffer.
/// Sequence numbers and port id are stamped by <see cref="NetlinkSocket"/> when the batch is sent.
/// </summary>
public ref struct NetlinkWriter
{
    private NetlinkBuffer? _b;

    public NetlinkWriter(int initialCapacity)
    {
        _b = NetlinkBuffer.Rent(initialCapacity);
    }

    public NetlinkWriter() : this(1024)
    {
    }

    private readonly NetlinkBuffer B => _b ?? throw new InvalidOperationException("NetlinkWriter was not created with new() or is disposed");

    /// <summary>Bytes written so far (lengths of finished messages patched).</summary>
    public readonly ReadOnlySpan<byte> WrittenSpan => B.Data.AsSpan(0, B.Length);

    /// <summary>Number of messages begun in this writer.</summary>
    public readonly int MessageCount => B.MessageCount;

    internal readonly Span<byte> WrittenSpanMutable => B.Data.AsSpan(0, B.Length);

    /// <summary>Starts a message; finishes the previous one if still open.</summary>
    public void BeginMessage(ushort type, ushort flags)
    {
        EndMessage();
        NetlinkBuffer b = B;
        b.MessageStart = b.Length;
        Span<byte> header = b.Grow(NLMSG_HDRLEN);
        BinaryPrimitives.WriteUInt16LittleEndian(header.Slice(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(header.Slice(6), flags);
        b.MessageCount++;
    }

    /// <summary>Patches the length of the open message. Safe to call more than once.</summary>
    public readonly void EndMessage()
    {
        NetlinkBuffer b = B;
        if (b.MessageStart >= 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b.Data.AsSpan(b.MessageStart), (uint)(b.Length - b.MessageStart));
            b.MessageStart = -1;
        }
    }

    /// <summary>Writes a fixed family header (ifinfomsg, rtmsg, nfgenmsg...), padded to 4 bytes.</summary>
    public readonly void WriteHeader<T>(in T header) where T : unmanaged
    {
        int size = Marshal.SizeOf<T>();
        Span<byte> span = B.Grow(Align(size));
        MemoryMarshal.Write(span, in header);
    }

    /// <summary>Reserves zeroed, 4-byte aligned space and returns it for the caller to fill.</summary>
    public readonly Span<byte> Reserve(int size) => B.Grow(Align(size)).Slice(0, size);

    public readonly void Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        int total = NLA_HDRLEN + value.Length;
        if (total > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "netlink attribute longer than 65535 bytes");
        }
        Span<byte> span = B.Grow(Align(total));
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)total);
        BinaryPrimitives.WriteUInt16LittleEndian(span.Slice(2), type);
        value.CopyTo(span.Slice(NLA_HDRLEN));
    }

    /// <summary>An attribute with no payload (a flag).</summary>
    public readonly void AttributeFlag(ushort type) => Attribute(type, ReadOnlySpan<byte>.Empty);

    public readonly void AttributeU8(ushort type, byte value) => Attribute(type, [value]);

    public readonly void AttributeU16(ushort type, ushort value)
    {
        Span<byte> v = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(v, value);
        Attribute(type, v);
    }

    public readonly void AttributeU32(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(v, value);
        Attribute(type, v);
    }

    public readonly void AttributeS32(ushort type, int value) => AttributeU32(type, (uint)value);

    public readonly void AttributeU64(ushort type, ulong value)
    {
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(v, value);
        Attribute(type, v);
    }

    /// <summary>Big-endian (network order) u16, as nftables and ports need.</summary>
    public readonly void AttributeU16BigEndian(ushort type, ushort value)
    {
        Span<byte> v = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(v, value);
        Attribute(type, v);
    }

    public readonly void AttributeU32BigEndian(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, value);
        Attribute(type, v);
    }

    public readonly void AttributeU64BigEndian(ushort type, ulong value)
    {
        Span<byte> v = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(v, value);
        Attribute(type, v);
    }

    /// <summary>A NUL-terminated UTF-8 string (NLA_NUL_STRING / NLA_STRING).</summary>
    public readonly void AttributeString(ushort type, string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length) + 1;
        byte[]? rented = null;
        Span<byte> v = max <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(max));
        int n = Encoding.UTF8.GetBytes(value, v);
        v[n] = 0;
        Attribute(type, v.Slice(0, n + 1));
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.</summary>
    public readonly void AttributeAddress(ushort type, IPAddress address)
    {
        Span<byte> v = stackalloc byte[16];
        if (!address.TryWriteBytes(v, out int written))
        {
            throw new ArgumentException("address could not be encoded", nameof(address));
        }
        Attribute(type, v.Slice(0, written));
    }

    /// <summary>Opens a nested attribute; dispose the scope to close it.</summary>
    public readonly NestedAttribute Nest(ushort type, bool setNestedFlag = true)
        => new(B, BeginNested(setNestedFlag ? (ushort)(type | NLA_F_NESTED) : type));

    /// <summary>Starts a nested attribute and returns its offset for <see cref="EndNested"/>.</summary>
    public readonly int BeginNested(ushort type)
    {
        NetlinkBuffer b = B;
        int start = b.Length;
        Span<byte> span = b.Grow(NLA_HDRLEN);
        BinaryPrimitives.WriteUInt16LittleEndian(span.Slice(2), type);
        return start;
    }

    public readonly void EndNested(int start) => B.EndNested(start);

    /// <summary>Clears the writer for reuse, keeping its buffer.</summary>
    public readonly void Reset() => B.Reset();

    public void Dispose()
    {
        NetlinkBuffer? b = _b;
        _b = null;
        if (b is not null)
        {
            NetlinkBuffer.Return(b);
        }
    }

    internal static int FamilyOf(IPAddress address) => address.AddressFamily switch
    {
        AddressFamily.InterNetwork => Interop.Libc.AF_INET,
        AddressFamily.InterNetworkV6 => Interop.Libc.AF_INET6,
        _ => throw new ArgumentException("only IPv4 and IPv6 addresses are supported", nameof(address)),
    };
}

/// <summary>An open nested attribute; <see cref="Dispose"/> back-patches its length.</summary>
public ref struct NestedAttribute
{
    private readonly NetlinkBuffer _buffer;
    private int _start;

    internal NestedAttribute(NetlinkBuffer buffer, int start)
    {
        _buffer = buffer;
        _start = start;
    }

    public void Dispose()
    {
        if (_start >= 0)
        {
            _buffer.EndNested(_start);
            _start = -1;
        }
    }
}

/// <summary>The growable byte store behind <see cref="NetlinkWriter"/>; one is cached per thread.</summary>
internal sealed class NetlinkBuffer
{
    [ThreadStatic]
    private static NetlinkBuffer? t_cached;

    public byte[] Data;
    public int Length;
    public int MessageStart = -1;
    public int MessageCount;

    private NetlinkBuffer(int capacity)
    {
        Data = new byte[capacity];
    }

    public static NetlinkBuffer Rent(int capacity)
    {
        NetlinkBuffer? b = t_cached;
        t_cached = null;
        b ??= new NetlinkBuffer(Math.Max(capacity, 256));
        b.Reset();
        return b;
    }

    public static void Return(NetlinkBuffer b)
    {
        if (b.Data.Length <= 256 * 1024)
        {
            t_cached = b;
        }
    }

    public void Reset()
    {
        Length = 0;
        MessageStart = -1;
        MessageCount = 0;
    }

    public Span<byte> Grow(int size)
    {
        if (MessageStart < 0)
        {
            throw new InvalidOperationException("BeginMessage must be called before writing a header or attributes");
        }
        if (Length + size > Data.Length)
        {
            Array.Resize(ref Data, Math.Max(Data.Length * 2, Length + size));
        }
        Span<byte> span = Data.AsSpan(Length, size);
        span.Clear();
        Length += size;
        return span;
    }

    public void EndNested(int start)
    {
        int length = Length - start;
        if (length > ushort.MaxValue)
        {
            throw new InvalidOperationException("nested netlink attribute longer than 65535 bytes");
        }
        BinaryPrimitives.WriteUInt16LittleEndian(Data.AsSpan(start), (ushort)length);
    }
}
