using System.Runtime.InteropServices;

namespace Cni.Linux.Interop;

/// <summary>
/// libc entry points used by the native layer. Every declaration is named after the libc
/// function and sets the last P/Invoke error; callers turn a failure into a typed exception
/// through <see cref="LinuxException.FromLastError"/>.
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    // socket(2) domains, types and flags.
    internal const int AF_UNSPEC = 0;
    internal const int AF_INET = 2;
    internal const int AF_BRIDGE = 7;
    internal const int AF_NETLINK = 16;
    internal const int AF_INET6 = 10;
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_RAW = 3;
    internal const int SOCK_CLOEXEC = 0x80000;

    internal const int SOL_SOCKET = 1;
    internal const int SO_SNDBUF = 7;
    internal const int SO_RCVBUF = 8;

    internal const int MSG_PEEK = 0x02;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_DONTWAIT = 0x40;

    // open(2)
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_CLOEXEC = 0x80000;

    // flock(2)
    internal const int LOCK_SH = 1;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;
    internal const int LOCK_UN = 8;

    // setns(2) / unshare(2)
    internal const int CLONE_NEWNET = 0x40000000;

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int socket(int domain, int type, int protocol);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int bind(SafeFileDescriptor fd, void* addr, int addrlen);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int getsockname(SafeFileDescriptor fd, void* addr, int* addrlen);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int setsockopt(SafeFileDescriptor fd, int level, int optname, void* optval, int optlen);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint sendto(SafeFileDescriptor fd, void* buf, nuint len, int flags, void* destAddr, int addrlen);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint recvfrom(SafeFileDescriptor fd, void* buf, nuint len, int flags, void* srcAddr, int* addrlen);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint sendmsg(SafeFileDescriptor fd, void* msg, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint recvmsg(SafeFileDescriptor fd, void* msg, int flags);

    [LibraryImport(LibraryName, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int open(string path, int flags, int mode);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int flock(SafeFileDescriptor fd, int operation);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int ioctl(SafeFileDescriptor fd, nuint request, void* argp);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int setns(SafeHandle fd, int nstype);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int unshare(int flags);

    // pipe2(2), read(2), write(2), waitpid(2) and posix_spawn(3): starting a delegated plugin.
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint read(int fd, void* buf, nuint count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial nint write(int fd, void* buf, nuint count);

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int waitpid(int pid, int* status, int options);

    /// <summary>glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336; these reserve more.</summary>
    internal const int PosixSpawnFileActionsSize = 128;
    internal const int PosixSpawnAttrSize = 512;
    internal const int SigsetSize = 128;
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;
    internal const int SIGPIPE = 13;

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newfd);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(LibraryName)]
    internal static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(LibraryName)]
    internal static partial int sigemptyset(void* set);

    [LibraryImport(LibraryName)]
    internal static partial int sigaddset(void* set, int signum);

    /// <summary>posix_spawn returns the error number instead of setting errno.</summary>
    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int posix_spawn(int* pid, string path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(LibraryName)]
    internal static partial int getpid();

    [LibraryImport(LibraryName)]
    internal static partial int gettid();
}
