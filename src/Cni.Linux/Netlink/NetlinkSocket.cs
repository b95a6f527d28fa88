using System.Buffers.Binary;
using System.Runtime.ExceptionServices;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netlink;

/// <summary>Called for every data message of a reply (not for ACKs, errors or NLMSG_DONE).</summary>
public delegate void NetlinkMessageVisitor(NetlinkMessage message);

/// <summary>
/// A netlink socket (AF_NETLINK, SOCK_RAW) bound to the network namespace it was opened in.
/// Sends a batch of messages built with <see cref="NetlinkWriter"/>, stamping consecutive
/// sequence numbers, then reads replies until every message that asked for an ACK has been
/// acknowledged (or refused), and every dump has reached NLMSG_DONE.
/// Not thread-safe: one request at a time.
/// </summary>
public sealed unsafe class NetlinkSocket : IDisposable
{
    // Most replies are an ack or one object; a larger one is announced by the MSG_PEEK|MSG_TRUNC peek and the buffer grows.
    // (A bigger initial buffer costs zeroed pages in every socket a short-lived plugin opens.)
    private const int InitialReceiveBuffer = 4096;

    private readonly SafeFileDescriptor _fd;
    private byte[] _receiveBuffer = new byte[InitialReceiveBuffer];
    private uint _sequence;

    private NetlinkSocket(SafeFileDescriptor fd, NetlinkProtocol protocol, uint portId)
    {
        _fd = fd;
        Protocol = protocol;
        PortId = portId;
        _sequence = (uint)Environment.TickCount;
    }

    public NetlinkProtocol Protocol { get; }

    /// <summary>The port id the kernel assigned to this socket.</summary>
    public uint PortId { get; }

    /// <summary>The descriptor, for callers that need to poll or pass it on.</summary>
    public SafeFileDescriptor Handle => _fd;

    /// <summary>
    /// The protocol's name for messages. Not Enum.ToString: under NativeAOT its first use runs code that makes P/Invokes
    /// of its own, and as an argument of <see cref="LinuxException.FromLastError"/> it ran before the errno was read,
    /// which then said 0 (seen with injected socket and sendto failures).
    /// </summary>
    private static string NameOf(NetlinkProtocol protocol) => protocol switch
    {
        NetlinkProtocol.Route => "Route",
        NetlinkProtocol.Netfilter => "Netfilter",
        _ => ((int)protocol).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public static NetlinkSocket Open(NetlinkProtocol protocol)
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, (int)protocol);
        if (fd < 0)
        {
            throw LinuxException.FromLastError("socket AF_NETLINK " + NameOf(protocol));
        }
        var handle = new SafeFileDescriptor(fd);
        try
        {
            int one = 1;
            // Best effort: both exist since Linux 4.12; without them errors simply carry less detail.
            Libc.setsockopt(handle, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(int));
            Libc.setsockopt(handle, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(int));
            // Route dumps honour the filters in their headers (an address dump of one link returns that link's
            // addresses, not every address of the node) since Linux 4.20; older kernels ignore them, and the
            // readers filter again.
            if (protocol == NetlinkProtocol.Route)
            {
                Libc.setsockopt(handle, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(int));
            }

            Span<byte> address = stackalloc byte[12]; // struct sockaddr_nl
            address.Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(address, Libc.AF_NETLINK);
            fixed (byte* a = address)
            {
                if (Libc.bind(handle, a, address.Length) != 0)
                {
                    throw LinuxException.FromLastError("bind AF_NETLINK");
                }
                int length = address.Length;
                if (Libc.getsockname(handle, a, &length) != 0)
                {
                    throw LinuxException.FromLastError("getsockname AF_NETLINK");
                }
            }
            return new NetlinkSocket(handle, protocol, BinaryPrimitives.ReadUInt32LittleEndian(address.Slice(4)));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a socket inside <paramref name="ns"/>: the calling thread enters the namespace
    /// only long enough to create the socket, which stays bound to that namespace.
    /// </summary>
    public static NetlinkSocket OpenIn(NetNs ns, NetlinkProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return ns.Run(() => Open(protocol));
    }

    /// <summary>
    /// Sends every message in <paramref name="writer"/> and waits for the ACK of each message
    /// flagged NLM_F_ACK. Data replies go to <paramref name="onReply"/>. Throws the first
    /// <see cref="NetlinkException"/> the kernel returned.
    /// </summary>
    public void Request(scoped ref NetlinkWriter writer, NetlinkMessageVisitor? onReply = null, string? operation = null)
    {
        NetlinkException? error = Exchange(ref writer, onReply, dump: false, operation);
        if (error is not null)
        {
            throw error;
        }
    }

    /// <summary>Like <see cref="Request"/> but returns the kernel's refusal instead of throwing it.</summary>
    public bool TryRequest(scoped ref NetlinkWriter writer, out NetlinkException? error, NetlinkMessageVisitor? onReply = null, string? operation = null)
    {
        error = Exchange(ref writer, onReply, dump: false, operation);
        return error is null;
    }

    /// <summary>
    /// Sends dump requests (flags should include NLM_F_DUMP) and delivers every message of the
    /// multipart replies to <paramref name="onReply"/> until each dump's NLMSG_DONE.
    /// </summary>
    public void Dump(scoped ref NetlinkWriter writer, NetlinkMessageVisitor onReply, string? operation = null)
    {
        NetlinkException? error = Exchange(ref writer, onReply, dump: true, operation);
        if (error is not null)
        {
            throw error;
        }
    }

    public void Dispose() => _fd.Dispose();

    private NetlinkException? Exchange(scoped ref NetlinkWriter writer, NetlinkMessageVisitor? onReply, bool dump, string? operation)
    {
        writer.EndMessage();
        Span<byte> batch = writer.WrittenSpanMutable;
        if (batch.Length == 0)
        {
            throw new ArgumentException("the writer holds no message", nameof(writer));
        }

        // Stamp sequence numbers and count the replies that end this exchange.
        uint first = _sequence + 1;
        int pending = 0;
        int count = 0;
        Span<ushort> types = writer.MessageCount <= 64 ? stackalloc ushort[writer.MessageCount] : new ushort[writer.MessageCount];
        for (int offset = 0; offset < batch.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(batch.Slice(offset));
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(batch.Slice(offset + 6));
            types[count] = BinaryPrimitives.ReadUInt16LittleEndian(batch.Slice(offset + 4));
            BinaryPrimitives.WriteUInt32LittleEndian(batch.Slice(offset + 8), first + (uint)count);
            BinaryPrimitives.WriteUInt32LittleEndian(batch.Slice(offset + 12), PortId);
            if (dump || (flags & NLM_F_ACK) != 0)
            {
                pending++;
            }
            count++;
            offset += Align(length);
        }
        _sequence = first + (uint)count - 1;

        Send(batch);

        NetlinkException? error = null;
        ExceptionDispatchInfo? visitorFailure = null;
        bool draining = false;
        while (pending > 0)
        {
            int received = Receive(nonBlocking: draining);
            if (received < 0)
            {
                break; // drained everything the kernel queued after an error
            }
            foreach (NetlinkMessage message in new NetlinkMessageReader(_receiveBuffer.AsSpan(0, received)))
            {
                uint index = message.Sequence - first;
                if (index >= (uint)count)
                {
                    continue; // stale reply to an earlier, abandoned request
                }
                switch (message.Type)
                {
                    case NLMSG_NOOP:
                        break;
                    case NLMSG_ERROR:
                        pending--;
                        NetlinkException? refusal = ParseError(message, types[(int)index], operation);
                        if (refusal is not null)
                        {
                            error ??= refusal;
                            draining = !dump;
                        }
                        break;
                    case NLMSG_DONE:
                        pending--;
                        if (message.Payload.Length >= 4)
                        {
                            int status = BinaryPrimitives.ReadInt32LittleEndian(message.Payload);
                            if (status < 0)
                            {
                                error ??= ParseDoneError(message, status, types[(int)index], operation);
                            }
                        }
                        break;
                    case NLMSG_OVERRUN:
                        error ??= new NetlinkException(Errno.ENOBUFS, Describe(types[(int)index], operation), types[(int)index], "netlink overrun", null);
                        pending = 0;
                        break;
                    default:
                        if (onReply is not null && visitorFailure is null)
                        {
                            try
                            {
                                onReply(message);
                            }
                            catch (Exception e)
                            {
                                // Keep reading so the socket is left clean, then rethrow.
                                visitorFailure = ExceptionDispatchInfo.Capture(e);
                            }
                        }
                        break;
                }
            }
        }

        visitorFailure?.Throw();
        return error;
    }

    private void Send(ReadOnlySpan<byte> batch)
    {
        Span<byte> kernel = stackalloc byte[12]; // sockaddr_nl of the kernel: pid 0, groups 0
        kernel.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(kernel, Libc.AF_NETLINK);
        fixed (byte* b = batch)
        fixed (byte* k = kernel)
        {
            while (true)
            {
                nint sent = Libc.sendto(_fd, b, (nuint)batch.Length, 0, k, kernel.Length);
                if (sent >= 0)
                {
                    return;
                }
                LinuxException failure = LinuxException.FromLastError("sendto netlink " + NameOf(Protocol));
                if (failure.Errno != Errno.EINTR)
                {
                    throw failure;
                }
            }
        }
    }

    /// <summary>Receives one datagram into the buffer, growing it to fit. Returns -1 on EAGAIN when non-blocking.</summary>
    private int Receive(bool nonBlocking)
    {
        int flags = nonBlocking ? Libc.MSG_DONTWAIT : 0;
        while (true)
        {
            nint size;
            fixed (byte* b = _receiveBuffer)
            {
                // Peek the real datagram length first so nothing is ever truncated.
                size = Libc.recvfrom(_fd, b, 0, flags | Libc.MSG_PEEK | Libc.MSG_TRUNC, null, null);
            }
            if (size >= 0)
            {
                if (size > _receiveBuffer.Length)
                {
                    _receiveBuffer = new byte[NetlinkConstants.Align((int)size + 4096)];
                }
                fixed (byte* b = _receiveBuffer)
                {
                    size = Libc.recvfrom(_fd, b, (nuint)_receiveBuffer.Length, flags, null, null);
                }
                if (size >= 0)
                {
                    return (int)size;
                }
            }
            LinuxException failure = LinuxException.FromLastError("recvfrom netlink " + NameOf(Protocol));
            if (failure.Errno == Errno.EINTR)
            {
                continue;
            }
            if (nonBlocking && failure.Errno == Errno.EAGAIN)
            {
                return -1;
            }
            throw failure;
        }
    }

    private static NetlinkException? ParseError(NetlinkMessage message, ushort requestType, string? operation)
    {
        ReadOnlySpan<byte> payload = message.Payload;
        if (payload.Length < 4)
        {
            return new NetlinkException(Errno.EPROTO, Describe(requestType, operation), requestType, "truncated NLMSG_ERROR", null);
        }
        int status = BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (status == 0)
        {
            return null;
        }

        string? text = null;
        int? offset = null;
        if ((message.Flags & NLM_F_ACK_TLVS) != 0 && payload.Length >= 4 + NLMSG_HDRLEN)
        {
            // struct nlmsgerr: error, the request's nlmsghdr, then its payload unless capped; TLVs follow.
            int tlvStart = 4 + NLMSG_HDRLEN;
            if ((message.Flags & NLM_F_CAPPED) == 0)
            {
                int requestLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(payload.Slice(4));
                tlvStart = 4 + Align(requestLength);
            }
            if (tlvStart < payload.Length)
            {
                foreach (NetlinkAttribute attribute in new NetlinkAttributeReader(payload.Slice(tlvStart)))
                {
                    if (attribute.Type == NLMSGERR_ATTR_MSG)
                    {
                        text = attribute.String;
                    }
                    else if (attribute.Type == NLMSGERR_ATTR_OFFS && attribute.Value.Length >= 4)
                    {
                        offset = (int)attribute.U32;
                    }
                }
            }
        }
        return new NetlinkException((Errno)(-status), Describe(requestType, operation), requestType, text, offset);
    }

    private static NetlinkException ParseDoneError(NetlinkMessage message, int status, ushort requestType, string? operation)
    {
        string? text = null;
        if ((message.Flags & NLM_F_ACK_TLVS) != 0 && message.Payload.Length > 4)
        {
            foreach (NetlinkAttribute attribute in new NetlinkAttributeReader(message.Payload.Slice(4)))
            {
                if (attribute.Type == NLMSGERR_ATTR_MSG)
                {
                    text = attribute.String;
                }
            }
        }
        return new NetlinkException((Errno)(-status), Describe(requestType, operation) + " (dump)", requestType, text, null);
    }

    private static string Describe(ushort requestType, string? operation)
        => operation ?? "netlink request type " + requestType.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
