using Tmds.Linux;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Cni.Etcd;

/// <summary>
/// A blocking TCP connection on a plain socket descriptor (libc socket/connect/poll/recv/send), as a
/// <see cref="Stream"/> for <see cref="System.Net.Security.SslStream"/>. <see cref="Socket"/> starts .NET's socket
/// engine with its first instance (an epoll thread, waited for by spinning): measured as the largest single item of
/// a plugin's own CPU per etcd call (perf, bridge with cluster-ipam in-process), for a process that makes one
/// blocking connection. Failures are <see cref="SocketException"/>s (connect) or <see cref="IOException"/>s with a
/// <see cref="SocketException"/> inside (read, write, time-out), as <see cref="NetworkStream"/> reports them.
/// </summary>
internal sealed partial class SocketStream : Stream
{
    private int _fd;

    private SocketStream(int fd) => _fd = fd;

    /// <summary>Connects before <paramref name="deadline"/> (Environment.TickCount64); the descriptor is blocking afterwards.</summary>
    public static SocketStream Connect(IPAddress address, int port, long deadline)
    {
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        return Connect(v6 ? AF_INET6 : AF_INET, SockAddr(address, port), deadline);
    }

    /// <summary>
    /// Connects to the stream socket at <paramref name="path"/> (AF_UNIX). A path where nobody listens fails at once
    /// (ENOENT or ECONNREFUSED, as <see cref="SocketException"/>s).
    /// </summary>
    public static SocketStream ConnectUnix(string path, long deadline)
    {
        byte[] name = System.Text.Encoding.UTF8.GetBytes(path);
        if (name.Length == 0 || name.Length > 107 || name.AsSpan().IndexOf((byte)0) >= 0)
            throw new SocketException((int)SocketError.AddressNotAvailable);
        var sa = new byte[2 + name.Length + 1]; // sockaddr_un: family, NUL-terminated path
        BinaryPrimitives.WriteUInt16LittleEndian(sa, AF_UNIX);
        name.CopyTo(sa, 2);
        return Connect(AF_UNIX, sa, deadline);
    }

    private static SocketStream Connect(int family, byte[] sa, long deadline)
    {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) throw Error(Marshal.GetLastPInvokeError());
        try
        {
            int one = 1;
            if (family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, ref one, sizeof(int));
            if (connect(fd, sa, sa.Length) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINPROGRESS) throw Error(errno);
                while (true)
                {
                    long remaining = deadline - Environment.TickCount64;
                    if (remaining <= 0) throw new SocketException((int)SocketError.TimedOut);
                    var p = new PollFd { Fd = fd, Events = POLLOUT };
                    int n = poll(ref p, 1, (int)Math.Min(remaining, int.MaxValue));
                    if (n < 0)
                    {
                        int e = Marshal.GetLastPInvokeError();
                        if (e == EINTR) continue;
                        throw Error(e);
                    }
                    if (n == 0) throw new SocketException((int)SocketError.TimedOut);
                    break;
                }
                int error = 0, length = sizeof(int);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, ref error, ref length) != 0) throw Error(Marshal.GetLastPInvokeError());
                if (error != 0) throw Error(error);
            }
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) throw Error(Marshal.GetLastPInvokeError());
            return new SocketStream(fd);
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>Every later read and write fails with a time-out once <paramref name="deadline"/> has passed.</summary>
    public void SetDeadline(long deadline)
    {
        long ms = Math.Clamp(deadline - Environment.TickCount64, 1, int.MaxValue);
        var tv = new TimeVal { Seconds = ms / 1000, Microseconds = ms % 1000 * 1000 };
        setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, ref tv, Marshal.SizeOf<TimeVal>());
        setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, ref tv, Marshal.SizeOf<TimeVal>());
    }

    /// <summary>How long a read may block from now on: <paramref name="milliseconds"/>, or for ever when 0 (a watch stream).</summary>
    public void SetReceiveTimeout(int milliseconds)
    {
        var tv = new TimeVal { Seconds = milliseconds / 1000, Microseconds = milliseconds % 1000 * 1000L };
        setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, ref tv, Marshal.SizeOf<TimeVal>());
    }

    private static byte[] SockAddr(IPAddress address, int port)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var sa = new byte[28]; // sockaddr_in6: family, port, flowinfo, address, scope id
            BinaryPrimitives.WriteUInt16LittleEndian(sa, AF_INET6);
            BinaryPrimitives.WriteUInt16BigEndian(sa.AsSpan(2), (ushort)port);
            address.TryWriteBytes(sa.AsSpan(8, 16), out _);
            BinaryPrimitives.WriteUInt32LittleEndian(sa.AsSpan(24), (uint)address.ScopeId);
            return sa;
        }
        var s4 = new byte[16]; // sockaddr_in: family, port, address, zero
        BinaryPrimitives.WriteUInt16LittleEndian(s4, AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(s4.AsSpan(2), (ushort)port);
        address.MapToIPv4().TryWriteBytes(s4.AsSpan(4, 4), out _);
        return s4;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            nint n = recv(Fd, ref MemoryMarshal.GetReference(buffer), (nuint)buffer.Length, 0);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            throw IOError(errno, "read from");
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            nint n = send(Fd, ref MemoryMarshal.GetReference(buffer), (nuint)buffer.Length, MSG_NOSIGNAL);
            if (n < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                throw IOError(errno, "write to");
            }
            buffer = buffer[(int)n..];
        }
    }

    private int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(SocketStream));

    private static IOException IOError(int errno, string what)
    {
        var inner = Error(errno is EAGAIN ? ETIMEDOUT : errno);
        return new IOException($"Unable to {what} the connection: {inner.Message}", inner);
    }

    /// <summary>The <see cref="SocketException"/> for an errno, with the SocketError the caller's messages know.</summary>
    private static SocketException Error(int errno) => new((int)(errno switch
    {
        ECONNREFUSED or ENOENT => SocketError.ConnectionRefused,
        ETIMEDOUT => SocketError.TimedOut,
        EHOSTUNREACH => SocketError.HostUnreachable,
        ENETUNREACH => SocketError.NetworkUnreachable,
        ECONNRESET => SocketError.ConnectionReset,
        EPIPE => SocketError.Shutdown,
        EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        _ => SocketError.SocketError,
    }));

    public override void Flush() { }
    public override bool CanRead => _fd >= 0;
    public override bool CanWrite => _fd >= 0;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            // shutdown first: a read blocked in another thread (a watch stream's) returns; close alone would not wake it.
            shutdown(fd, SHUT_RDWR);
            close(fd);
        }
        base.Dispose(disposing);
    }

    // ---------------------------------------------------------------- libc

    private const int AF_UNIX = 1, ENOENT = 2, AF_INET = 2, AF_INET6 = 10, SOCK_STREAM = 1, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    private const int IPPROTO_TCP = 6, TCP_NODELAY = 1, SOL_SOCKET = 1, SO_ERROR = 4, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21;
    private const int F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0x800, MSG_NOSIGNAL = 0x4000;
    private const short POLLOUT = 4;
    private const int EINTR = 4, EAGAIN = 11, EPIPE = 32, EINPROGRESS = 115, ECONNREFUSED = 111, ETIMEDOUT = 110,
        EHOSTUNREACH = 113, ENETUNREACH = 101, ECONNRESET = 104, EADDRNOTAVAIL = 99;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    // Through Tmds.LibC (its imports leave errno in the last P/Invoke error), as the rest of the suite; poll(2) is the
    // one call Tmds.LibC 0.5.0 lacks (no pollfd), declared here.
    private static int socket(int domain, int type, int protocol) => LibC.socket(domain, type, protocol);

    private static unsafe int connect(int fd, byte[] address, int length)
    {
        fixed (byte* p = address) return LibC.connect(fd, (sockaddr*)p, length);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint count, int timeout);

    private static unsafe int setsockopt(int fd, int level, int name, ref int value, int length)
    {
        fixed (int* p = &value) return LibC.setsockopt(fd, level, name, p, length);
    }

    private static unsafe int setsockopt(int fd, int level, int name, ref TimeVal value, int length)
    {
        fixed (TimeVal* p = &value) return LibC.setsockopt(fd, level, name, p, length);
    }

    private static unsafe int getsockopt(int fd, int level, int name, ref int value, ref int length)
    {
        fixed (int* p = &value)
        fixed (int* l = &length)
            return LibC.getsockopt(fd, level, name, p, (socklen_t*)l);
    }

    private static int fcntl(int fd, int command, int argument) => LibC.fcntl(fd, command, argument);

    private static unsafe nint recv(int fd, ref byte buffer, nuint length, int flags)
    {
        fixed (byte* p = &buffer) return (nint)(long)LibC.recv(fd, p, (size_t)(ulong)length, flags);
    }

    private static unsafe nint send(int fd, ref byte buffer, nuint length, int flags)
    {
        fixed (byte* p = &buffer) return (nint)(long)LibC.send(fd, p, (size_t)(ulong)length, flags);
    }

    private static int close(int fd) => LibC.close(fd);

    private const int SHUT_RDWR = 2;

    private static int shutdown(int fd, int how) => LibC.shutdown(fd, how);
}
