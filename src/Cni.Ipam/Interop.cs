using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Cni.Ipam;

/// <summary>libc calls the disk store needs, named after the libc functions. errno becomes an exception in <see cref="ThrowForLastError"/>.</summary>
internal static partial class Interop
{
    private const string Libc = "libc";

    internal const int O_RDONLY = 0x0;
    internal const int O_WRONLY = 0x1;
    internal const int O_RDWR = 0x2;
    internal const int O_CREAT = 0x40;
    internal const int O_EXCL = 0x80;
    internal const int O_TRUNC = 0x200;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_DIRECTORY = 0x10000;
    /// <summary>An unnamed regular file in the given directory (__O_TMPFILE | O_DIRECTORY), linked into place later.</summary>
    internal const int O_TMPFILE = 0x410000;

    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_FOLLOW = 0x400;
    internal const int AT_EMPTY_PATH = 0x1000;

    /// <summary>d_type values of struct linux_dirent64.</summary>
    internal const byte DT_UNKNOWN = 0;
    internal const byte DT_DIR = 4;
    internal const byte DT_REG = 8;

    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;
    internal const int LOCK_UN = 8;

    internal const int EINTR = 4;
    internal const int ENOENT = 2;
    internal const int EEXIST = 17;
    internal const int EWOULDBLOCK = 11;
    internal const int EISDIR = 21;

    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open_raw(string path, int flags, int mode);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    private static unsafe partial int openat_raw(SafeFileHandle dirfd, byte* path, int flags, int mode);

    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial int unlinkat(SafeFileHandle dirfd, byte* path, int flags);

    /// <summary>getdents64(2) (glibc 2.30+): raw struct linux_dirent64 records.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint getdents64(SafeFileHandle fd, byte* dirp, nint count);

    /// <summary>openat(2) of a NUL-terminated name relative to a directory descriptor.</summary>
    internal static unsafe SafeFileHandle openat(SafeFileHandle dirfd, byte* nulTerminatedName, int flags, int mode = 0) =>
        new(openat_raw(dirfd, nulTerminatedName, flags | O_CLOEXEC, mode), ownsHandle: true);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int flock(SafeFileHandle fd, int operation);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int link(string oldpath, string newpath);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int unlink(string path);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int mkdir(string path, int mode);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int ftruncate(SafeFileHandle fd, long length);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int rename(string oldpath, string newpath);

    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint read(SafeFileHandle fd, byte* buf, nint count);

    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint write(SafeFileHandle fd, byte* buf, nint count);

    /// <summary>open(2) into a SafeFileHandle (close-on-exec always); an invalid handle and errno on failure.</summary>
    internal static SafeFileHandle open(string path, int flags, int mode = 0)
    {
        int fd = open_raw(path, flags | O_CLOEXEC, mode);
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    internal const int AT_STATX_SYNC_AS_STAT = 0;
    internal const uint STATX_BASIC_STATS = 0x7ff;
    internal const int CLOCK_REALTIME_COARSE = 5;

    /// <summary>
    /// struct statx (fixed layout on every architecture). Only the fields the store compares are named; the rest
    /// is padding up to the kernel's 256 bytes.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct StatxBuffer
    {
        [FieldOffset(32)] public ulong stx_ino;
        [FieldOffset(96)] public long stx_ctime_sec;
        [FieldOffset(104)] public uint stx_ctime_nsec;
        [FieldOffset(112)] public long stx_mtime_sec;
        [FieldOffset(120)] public uint stx_mtime_nsec;
    }

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buf);

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long tv_sec;
        public long tv_nsec;
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int clock_gettime(int clockid, out Timespec tp);

    /// <summary>statfs(2); f_type is the first word of struct statfs on every 64-bit Linux ABI, the buffer covers the rest.</summary>
    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static unsafe partial int statfs(string path, byte* buf);

    internal const long EXT4_SUPER_MAGIC = 0xEF53;
    internal const long XFS_SUPER_MAGIC = 0x58465342;
    internal const long BTRFS_SUPER_MAGIC = 0x9123683E;
    internal const long TMPFS_MAGIC = 0x01021994;

    internal static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>The one place errno turns into an exception.</summary>
    internal static StoreIOException ErrnoException(string operation, string path, int errno) =>
        new($"{operation} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    internal static StoreIOException ThrowForLastError(string operation, string path) =>
        throw ErrnoException(operation, path, LastErrno);
}
