using System.Runtime.InteropServices;

namespace Cni.Linux.Interop;

/// <summary>
/// A stream over an inherited file descriptor (a plugin's stdin, stdout or stderr) that reads and writes with
/// read(2) and write(2), so the descriptor's own offset moves as it would for any other program. A
/// <see cref="FileStream"/> over a regular file keeps its own position and uses pread/pwrite instead: the
/// descriptor's offset stayed where it was, and whatever the caller wrote next to the same file after the
/// plugin (<c>{ plugin; echo done; } &gt; out</c>) overwrote the plugin's result. Does not own the descriptor;
/// unbuffered.
/// </summary>
public sealed unsafe class DescriptorStream : Stream
{
    private const int EINTR = 4;
    private readonly int _fd;
    private readonly bool _read;

    private DescriptorStream(int fd, bool read)
    {
        _fd = fd;
        _read = read;
    }

    /// <summary>A stream that reads descriptor <paramref name="fd"/>.</summary>
    public static DescriptorStream ForReading(int fd) => new(fd, read: true);

    /// <summary>A stream that writes descriptor <paramref name="fd"/>.</summary>
    public static DescriptorStream ForWriting(int fd) => new(fd, read: false);

    public override bool CanRead => _read;
    public override bool CanWrite => !_read;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!_read) throw new NotSupportedException("write-only stream");
        if (buffer.IsEmpty) return 0;
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.read(_fd, p, (nuint)buffer.Length);
                if (n >= 0) return (int)n;
                if (Marshal.GetLastPInvokeError() != EINTR) throw new IOException(LinuxException.FromLastError($"read fd {_fd}").Message);
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_read) throw new NotSupportedException("read-only stream");
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = Libc.write(_fd, p + done, (nuint)(buffer.Length - done));
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == EINTR) continue;
                    throw new IOException(LinuxException.FromLastError($"write fd {_fd}").Message);
                }
                done += (int)n;
            }
        }
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
