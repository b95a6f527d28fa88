using System.Runtime.InteropServices;

namespace Cni.Linux.Interop;

/// <summary>An owned Linux file descriptor, closed exactly once.</summary>
public sealed class SafeFileDescriptor : SafeHandle
{
    public SafeFileDescriptor() : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    internal SafeFileDescriptor(int fd) : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => (int)handle < 0;

    /// <summary>The raw descriptor number (valid only while this handle is alive).</summary>
    public int Number => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;

    /// <summary>open(2) with O_CLOEXEC; failure becomes a <see cref="LinuxException"/>.</summary>
    internal static SafeFileDescriptor Open(string path, int flags)
    {
        int fd = Libc.open(path, flags | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw LinuxException.FromLastError("open " + path);
        }
        return new SafeFileDescriptor(fd);
    }
}
