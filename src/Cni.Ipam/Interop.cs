using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Libc = Cni.Linux.Interop.Libc;

namespace Cni.Ipam;

/// <summary>
/// The libc calls the disk store needs, through the suite's libc layer (Cni.Linux's <c>Libc</c>, over Tmds.LibC):
/// descriptors as SafeFileHandles, opened close-on-exec. errno becomes an exception in <see cref="ThrowForLastError"/>.
/// </summary>
internal static class Interop
{
    internal static int O_RDONLY => Libc.O_RDONLY;
    internal static int O_WRONLY => Libc.O_WRONLY;
    internal static int O_RDWR => Libc.O_RDWR;
    internal static int O_CREAT => Libc.O_CREAT;
    internal static int O_EXCL => Libc.O_EXCL;
    internal static int O_TRUNC => Libc.O_TRUNC;
    internal static int O_NOFOLLOW => Libc.O_NOFOLLOW;
    internal static int O_DIRECTORY => Libc.O_DIRECTORY;
    internal static int O_TMPFILE => Libc.O_TMPFILE;
    internal static int AT_FDCWD => Libc.AT_FDCWD;
    internal static int AT_SYMLINK_FOLLOW => Libc.AT_SYMLINK_FOLLOW;
    internal static int AT_EMPTY_PATH => Libc.AT_EMPTY_PATH;
    internal static int AT_STATX_SYNC_AS_STAT => Libc.AT_STATX_SYNC_AS_STAT;
    internal static uint STATX_BASIC_STATS => Libc.STATX_BASIC_STATS;

    internal const byte DT_UNKNOWN = Libc.DT_UNKNOWN;
    internal const byte DT_DIR = Libc.DT_DIR;
    internal const byte DT_REG = Libc.DT_REG;

    internal const int LOCK_EX = Libc.LOCK_EX;
    internal const int LOCK_NB = Libc.LOCK_NB;
    internal const int LOCK_UN = Libc.LOCK_UN;

    internal static int EINTR => Libc.EINTR;
    internal static int ENOENT => Libc.ENOENT;
    internal static int EEXIST => Libc.EEXIST;
    internal static int EWOULDBLOCK => Libc.EWOULDBLOCK;
    internal static int EISDIR => Libc.EISDIR;

    internal const int CLOCK_REALTIME_COARSE = Libc.CLOCK_REALTIME_COARSE;
    internal const long EXT4_SUPER_MAGIC = Libc.EXT4_SUPER_MAGIC;
    internal const long XFS_SUPER_MAGIC = Libc.XFS_SUPER_MAGIC;
    internal const long BTRFS_SUPER_MAGIC = Libc.BTRFS_SUPER_MAGIC;
    internal const long TMPFS_MAGIC = Libc.TMPFS_MAGIC;

    /// <summary>open(2) into a SafeFileHandle (close-on-exec always); an invalid handle and errno on failure.</summary>
    internal static SafeFileHandle open(string path, int flags, int mode = 0) =>
        new(Libc.open(path, flags | Libc.O_CLOEXEC, mode), ownsHandle: true);

    /// <summary>openat(2) of a NUL-terminated name relative to a directory descriptor.</summary>
    internal static unsafe SafeFileHandle openat(SafeFileHandle dirfd, byte* nulTerminatedName, int flags, int mode = 0) =>
        new(Libc.openat(dirfd, nulTerminatedName, flags | Libc.O_CLOEXEC, mode), ownsHandle: true);

    internal static unsafe int unlinkat(SafeFileHandle dirfd, byte* path, int flags) => Libc.unlinkat(dirfd, path, flags);

    internal static unsafe nint getdents64(SafeFileHandle fd, byte* dirp, nint count) => Libc.getdents64(fd, dirp, count);

    internal static int flock(SafeFileHandle fd, int operation) => Libc.flock(fd, operation);

    internal static int link(string oldpath, string newpath) => Libc.link(oldpath, newpath);

    internal static int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags) =>
        Libc.linkat(olddirfd, oldpath, newdirfd, newpath, flags);

    internal static int unlink(string path) => Libc.unlink(path);

    internal static int mkdir(string path, int mode) => Libc.mkdir(path, mode);

    internal static int ftruncate(SafeFileHandle fd, long length) => Libc.ftruncate(fd, length);

    internal static int rename(string oldpath, string newpath) => Libc.rename(oldpath, newpath);

    internal static unsafe nint read(SafeFileHandle fd, byte* buf, nint count) => Libc.read(fd, buf, (nuint)count);

    internal static unsafe nint write(SafeFileHandle fd, byte* buf, nint count) => Libc.write(fd, buf, (nuint)count);

    /// <summary>The fields of struct statx the store compares (the layout is Tmds.LibC's).</summary>
    internal readonly record struct StatxBuffer(ulong stx_ino, long stx_ctime_sec, uint stx_ctime_nsec, long stx_mtime_sec, uint stx_mtime_nsec);

    internal static int statx(int dirfd, string path, int flags, uint mask, out StatxBuffer buf)
    {
        int r = Libc.statx(dirfd, path, flags, mask, out var st);
        buf = new StatxBuffer(st.stx_ino, st.stx_ctime.tv_sec, st.stx_ctime.tv_nsec, st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
        return r;
    }

    internal readonly record struct Timespec(long tv_sec, long tv_nsec);

    internal static unsafe int clock_gettime(int clockid, out Timespec tp)
    {
        Tmds.Linux.timespec ts;
        int r = Libc.clock_gettime(clockid, &ts);
        tp = new Timespec(ts.tv_sec, ts.tv_nsec);
        return r;
    }

    internal static unsafe int statfs(string path, byte* buf) => Libc.statfs(path, buf);

    internal static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>The one place errno turns into an exception.</summary>
    internal static StoreIOException ErrnoException(string operation, string path, int errno) =>
        new($"{operation} {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");

    internal static StoreIOException ThrowForLastError(string operation, string path) =>
        throw ErrnoException(operation, path, LastErrno);
}
