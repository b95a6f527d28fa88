using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Cni.Ipam.Disk;

public sealed partial class DiskReservationStore
{
    /// <summary>
    /// flock(LOCK_EX) on <c>dataDir/network/lock</c> (the reference's lock file), polled with LOCK_NB and a short
    /// backoff until the timeout. The lock dies with the process, so a crash never leaves it held.
    /// </summary>
    public IDisposable Lock()
    {
        EnsureDirectory();
        string path = Path.Combine(_dir, LockFileName);
        if (_lockFd is null)
        {
            var fd = Interop.open(path, Interop.O_RDONLY | Interop.O_CREAT | Interop.O_NOFOLLOW, 0b110_100_100);
            if (fd.IsInvalid) Interop.ThrowForLastError("open", path);
            _lockFd = fd;
        }

        var clock = Stopwatch.StartNew();
        int delayMs = 1;
        while (true)
        {
            if (Interop.flock(_lockFd, Interop.LOCK_EX | Interop.LOCK_NB) == 0) return new LockScope(_lockFd);
            int errno = Interop.LastErrno;
            if (errno == Interop.EINTR) continue;
            if (errno != Interop.EWOULDBLOCK) throw Interop.ErrnoException("flock", path, errno);
            var left = _lockTimeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
                throw new StoreLockTimeoutException(
                    $"timed out after {_lockTimeout.TotalSeconds:0.###}s waiting for the lock {path}; another IPAM call holds it, try again later");
            Thread.Sleep(TimeSpan.FromMilliseconds(Math.Min(delayMs, left.TotalMilliseconds)));
            delayMs = Math.Min(delayMs * 2, 50);
        }
    }

    private sealed class LockScope(SafeFileHandle fd) : IDisposable
    {
        private SafeFileHandle? _fd = fd;

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, null);
            if (fd is not null && !fd.IsClosed) Interop.flock(fd, Interop.LOCK_UN);
        }
    }
}
