using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Cni.Linux.Interop;

/// <summary>
/// The libc surface of the suite, named after the libc functions. Functions, constants and struct layouts come from
/// Tmds.LibC (checked against the C headers by its own build); this class is the project's layer above it: it takes
/// our <see cref="SafeHandle"/>s (a descriptor cannot be closed while a call uses it), turns .NET strings into
/// NUL-terminated UTF-8, and leaves errno in the last P/Invoke error (Tmds.LibC's imports set it) for
/// <see cref="LinuxException.FromLastError"/>. What Tmds.LibC 0.5.0 lacks is declared in <c>Libc.Own.cs</c>, with the
/// reason. Callers in other assemblies (the IPAM disk store) use the same class.
/// </summary>
internal static unsafe partial class Libc
{
    // socket(2) types and flags (the address families are in Libc.Own.cs: netlink headers need them as constants).
    internal static int SOCK_DGRAM => LibC.SOCK_DGRAM;
    internal static int SOCK_RAW => LibC.SOCK_RAW;
    internal static int SOCK_CLOEXEC => LibC.SOCK_CLOEXEC;

    internal static int SOL_SOCKET => LibC.SOL_SOCKET;
    internal static int SO_SNDBUF => LibC.SO_SNDBUF;
    internal static int SO_RCVBUF => LibC.SO_RCVBUF;

    internal static int MSG_PEEK => LibC.MSG_PEEK;
    internal static int MSG_TRUNC => LibC.MSG_TRUNC;
    internal static int MSG_DONTWAIT => LibC.MSG_DONTWAIT;

    // open(2), openat(2), linkat(2), statx(2)
    internal static int O_RDONLY => LibC.O_RDONLY;
    internal static int O_WRONLY => LibC.O_WRONLY;
    internal static int O_RDWR => LibC.O_RDWR;
    internal static int O_CREAT => LibC.O_CREAT;
    internal static int O_EXCL => LibC.O_EXCL;
    internal static int O_TRUNC => LibC.O_TRUNC;
    internal static int O_NOFOLLOW => LibC.O_NOFOLLOW;
    internal static int O_CLOEXEC => LibC.O_CLOEXEC;
    internal static int O_NONBLOCK => LibC.O_NONBLOCK;
    internal static int O_NOCTTY => LibC.O_NOCTTY;
    internal static int O_DIRECTORY => LibC.O_DIRECTORY;
    /// <summary>An unnamed regular file in the given directory (__O_TMPFILE | O_DIRECTORY), linked into place later.</summary>
    internal static int O_TMPFILE => LibC.O_TMPFILE;
    internal static int AT_FDCWD => LibC.AT_FDCWD;
    internal static int AT_SYMLINK_FOLLOW => LibC.AT_SYMLINK_FOLLOW;
    internal static int AT_EMPTY_PATH => LibC.AT_EMPTY_PATH;
    internal static uint STATX_BASIC_STATS => LibC.STATX_BASIC_STATS;

    // setns(2) / unshare(2)
    internal static int CLONE_NEWNET => LibC.CLONE_NEWNET;

    internal static int SIGPIPE => LibC.SIGPIPE;

    // errno values the callers test for.
    internal static int EINTR => LibC.EINTR;
    internal static int ENOENT => LibC.ENOENT;
    internal static int EEXIST => LibC.EEXIST;
    internal static int EWOULDBLOCK => LibC.EWOULDBLOCK;
    internal static int EISDIR => LibC.EISDIR;

    internal static int socket(int domain, int type, int protocol) => LibC.socket(domain, type, protocol);

    internal static int bind(SafeFileDescriptor fd, void* addr, int addrlen)
    {
        using var d = Borrow(fd);
        return LibC.bind(d.Fd, (sockaddr*)addr, addrlen);
    }

    internal static int getsockname(SafeFileDescriptor fd, void* addr, int* addrlen)
    {
        using var d = Borrow(fd);
        return LibC.getsockname(d.Fd, (sockaddr*)addr, (socklen_t*)addrlen);
    }

    internal static int setsockopt(SafeFileDescriptor fd, int level, int optname, void* optval, int optlen)
    {
        using var d = Borrow(fd);
        return LibC.setsockopt(d.Fd, level, optname, optval, optlen);
    }

    internal static nint sendto(SafeFileDescriptor fd, void* buf, nuint len, int flags, void* destAddr, int addrlen)
    {
        using var d = Borrow(fd);
        return (nint)(long)LibC.sendto(d.Fd, buf, (size_t)(ulong)len, flags, (sockaddr*)destAddr, addrlen);
    }

    internal static nint recvfrom(SafeFileDescriptor fd, void* buf, nuint len, int flags, void* srcAddr, int* addrlen)
    {
        using var d = Borrow(fd);
        return (nint)(long)LibC.recvfrom(d.Fd, buf, (size_t)(ulong)len, flags, (sockaddr*)srcAddr, (socklen_t*)addrlen);
    }

    internal static int ioctl(SafeFileDescriptor fd, nuint request, void* argp)
    {
        using var d = Borrow(fd);
        return LibC.ioctl(d.Fd, (int)request, argp);
    }

    internal static int ioctl(int fd, uint request) => LibC.ioctl(fd, (int)request);

    internal static int setns(SafeHandle fd, int nstype)
    {
        using var d = Borrow(fd);
        return LibC.setns(d.Fd, nstype);
    }

    internal static int unshare(int flags) => LibC.unshare(flags);

    internal static int open(string path, int flags, int mode)
    {
        using var p = new CString(path);
        return LibC.open(p.Pointer, flags, (ushort)mode);
    }

    /// <summary>openat(2) of a NUL-terminated name relative to a directory descriptor.</summary>
    internal static int openat(SafeHandle dirfd, byte* nulTerminatedName, int flags, int mode)
    {
        using var d = Borrow(dirfd);
        return LibC.openat(d.Fd, nulTerminatedName, flags, (ushort)mode);
    }

    internal static int unlinkat(SafeHandle dirfd, byte* nulTerminatedName, int flags)
    {
        using var d = Borrow(dirfd);
        return LibC.unlinkat(d.Fd, nulTerminatedName, flags);
    }

    internal static int close(int fd) => LibC.close(fd);

    internal static int pipe2(int* fds, int flags) => LibC.pipe2(fds, flags);

    internal static nint read(int fd, void* buf, nuint count) => (nint)(long)LibC.read(fd, buf, (size_t)(ulong)count);

    internal static nint write(int fd, void* buf, nuint count) => (nint)(long)LibC.write(fd, buf, (size_t)(ulong)count);

    internal static nint read(SafeHandle fd, void* buf, nuint count)
    {
        using var d = Borrow(fd);
        return read(d.Fd, buf, count);
    }

    internal static nint write(SafeHandle fd, void* buf, nuint count)
    {
        using var d = Borrow(fd);
        return write(d.Fd, buf, count);
    }

    internal static int ftruncate(SafeHandle fd, long length)
    {
        using var d = Borrow(fd);
        return LibC.ftruncate(d.Fd, length);
    }

    internal static int link(string oldpath, string newpath)
    {
        using var o = new CString(oldpath);
        using var n = new CString(newpath);
        return LibC.link(o.Pointer, n.Pointer);
    }

    internal static int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags)
    {
        using var o = new CString(oldpath);
        using var n = new CString(newpath);
        return LibC.linkat(olddirfd, o.Pointer, newdirfd, n.Pointer, flags);
    }

    internal static int unlink(string path)
    {
        using var p = new CString(path);
        return LibC.unlink(p.Pointer);
    }

    internal static int mkdir(string path, int mode)
    {
        using var p = new CString(path);
        return LibC.mkdir(p.Pointer, (ushort)mode);
    }

    internal static int statx(int dirfd, string path, int flags, uint mask, out statx buf)
    {
        using var p = new CString(path);
        fixed (statx* b = &buf) return LibC.statx(dirfd, p.Pointer, flags, mask, b);
    }

    internal static int sigemptyset(void* set) => LibC.sigemptyset((sigset_t*)set);

    internal static int sigaddset(void* set, int signum) => LibC.sigaddset((sigset_t*)set, signum);

    internal static int SigsetSize => sizeof(sigset_t);

    internal static int getpid() => LibC.getpid();

    /// <summary>A descriptor held open for the length of one call (the SafeHandle marshaller's AddRef/Release).</summary>
    private readonly ref struct Borrowed
    {
        private readonly SafeHandle _handle;
        private readonly bool _added;
        public readonly int Fd;

        public Borrowed(SafeHandle handle)
        {
            _handle = handle;
            bool added = false;
            handle.DangerousAddRef(ref added);
            _added = added;
            Fd = (int)handle.DangerousGetHandle();
        }

        public void Dispose()
        {
            if (_added) _handle.DangerousRelease();
        }
    }

    private static Borrowed Borrow(SafeHandle handle) => new(handle);

    /// <summary>A string as NUL-terminated UTF-8 in unmanaged memory for the length of one call.</summary>
    private readonly ref struct CString
    {
        public readonly byte* Pointer;

        public CString(string s)
        {
            int max = Encoding.UTF8.GetMaxByteCount(s.Length) + 1;
            Pointer = (byte*)NativeMemory.Alloc((nuint)max);
            int n = Encoding.UTF8.GetBytes(s, new Span<byte>(Pointer, max - 1));
            Pointer[n] = 0;
        }

        public void Dispose() => NativeMemory.Free(Pointer);
    }
}
