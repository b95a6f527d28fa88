using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Cni.Linux.Interop;

/// <summary>
/// The libc functions and constants the suite uses that Tmds.LibC 0.5.0 does not declare, each with what is missing.
/// Everything else comes from Tmds.LibC (<c>Libc.cs</c>). Bound at link time like Tmds.LibC's imports
/// (<c>DirectPInvoke</c> in cmd/Directory.Build.props).
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibraryName = "libc";

    // Address families: Tmds.LibC has them, as properties; the netlink code needs compile-time constants (byte fields
    // of rtnetlink headers, switch patterns). The values are the kernel's ABI, the same on every architecture;
    // LibcTests checks them against Tmds.LibC's.
    internal const byte AF_UNSPEC = 0;
    internal const byte AF_INET = 2;
    internal const byte AF_BRIDGE = 7;
    internal const byte AF_INET6 = 10;
    internal const byte AF_NETLINK = 16;

    // statx(2)'s AT_STATX_SYNC_AS_STAT: not in Tmds.LibC.
    internal const int AT_STATX_SYNC_AS_STAT = 0;

    // flock(2): not in Tmds.LibC (it has fcntl locks only).
    internal const int LOCK_SH = 1;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;
    internal const int LOCK_UN = 8;

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int flock(SafeHandle fd, int operation);

    // waitpid(2) and posix_spawn(3): not in Tmds.LibC (it has fork/vfork/execve, which a .NET process must not use).
    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int waitpid(int pid, int* status, int options);

    /// <summary>glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336; these reserve more.</summary>
    internal const int PosixSpawnFileActionsSize = 128;
    internal const int PosixSpawnAttrSize = 512;
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;

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

    /// <summary>posix_spawn returns the error number instead of setting errno.</summary>
    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int posix_spawn(int* pid, string path, void* fileActions, void* attr, byte** argv, byte** envp);

    // gettid(2): not in Tmds.LibC.
    [LibraryImport(LibraryName)]
    internal static partial int gettid();

    // getdents64(2) (glibc 2.30+): not in Tmds.LibC. Raw struct linux_dirent64 records; d_type values below.
    [LibraryImport(LibraryName, SetLastError = true)]
    private static partial nint getdents64(int fd, byte* dirp, nint count);

    internal static nint getdents64(SafeHandle fd, byte* dirp, nint count)
    {
        using var d = Borrow(fd);
        return getdents64(d.Fd, dirp, count);
    }

    internal const byte DT_UNKNOWN = 0;
    internal const byte DT_DIR = 4;
    internal const byte DT_REG = 8;

    // rename(2): not in Tmds.LibC (it has renameat2's flags but no rename).
    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int rename(string oldpath, string newpath);

    // clock_gettime(2): not in Tmds.LibC (the timespec layout is).
    internal const int CLOCK_REALTIME_COARSE = 5;

    [LibraryImport(LibraryName, SetLastError = true)]
    internal static partial int clock_gettime(int clockid, timespec* tp);

    // statfs(2): not in Tmds.LibC, nor struct statfs. f_type is the first word of struct statfs on every 64-bit Linux
    // ABI; callers pass a buffer that covers the rest.
    [LibraryImport(LibraryName, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int statfs(string path, byte* buf);

    internal const long EXT4_SUPER_MAGIC = 0xEF53;
    internal const long XFS_SUPER_MAGIC = 0x58465342;
    internal const long BTRFS_SUPER_MAGIC = 0x9123683E;
    internal const long TMPFS_MAGIC = 0x01021994;
}
