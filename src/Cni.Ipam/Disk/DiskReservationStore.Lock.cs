using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Cni.Ipam.Disk;

public sealed partial class DiskReservationStore
{
    private SafeFileHandle? _lockFd;
    private LockScope? _held;

    /// <summary>
    /// flock(LOCK_EX) on <c>dataDir/network/lock</c> (the reference's lock file), polled with LOCK_NB and a short
    /// backoff until the timeout. The lock dies with the process, so a crash never leaves it held.
    /// </summary>
    public IDisposable Lock()
    {
        if (_held is not null) throw new InvalidOperationException("the store lock is already held by this instance");
        EnsureDirectory();
        string path = PathOf(LockFileName);
        if (_lockFd is null)
        {
            var fd = Interop.open(path, Interop.O_RDONLY | Interop.O_CREAT | Interop.O_NOFOLLOW, 0b110_100_100);
            if (fd.IsInvalid) Interop.ThrowForLastError("open", path);
            _lockFd = fd;
        }

        long start = Stopwatch.GetTimestamp();
        int delayMs = 1;
        while (true)
        {
            if (Interop.flock(_lockFd, Interop.LOCK_EX | Interop.LOCK_NB) == 0) return _held = new LockScope(this, _lockFd);
            int errno = Interop.LastErrno;
            if (errno == Interop.EINTR) continue;
            if (errno != Interop.EWOULDBLOCK) throw Interop.ErrnoException("flock", path, errno);
            var left = _lockTimeout - Stopwatch.GetElapsedTime(start);
            if (left <= TimeSpan.Zero)
                throw new StoreLockTimeoutException(
                    $"timed out after {_lockTimeout.TotalSeconds:0.###}s waiting for the lock {path}; another IPAM call holds it, try again later");
            Thread.Sleep(TimeSpan.FromMilliseconds(Math.Min(delayMs, left.TotalMilliseconds)));
            delayMs = Math.Min(delayMs * 2, 50);
        }
    }

    /// <summary>What is true only while the lock is held: the names the last scan saw.</summary>
    private sealed class LockScope(DiskReservationStore store, SafeFileHandle fd) : IDisposable
    {
        private SafeFileHandle? _fd = fd;

        /// <summary>Names present in the directory (nobody else may change it while we hold the lock); null before a scan.</summary>
        public HashSet<string>? Taken { get; set; }

        /// <summary>The owner index's state in this scope.</summary>
        public IndexState Index { get; } = new();

        public void Dispose()
        {
            var fd = Interlocked.Exchange(ref _fd, null);
            if (fd is null) return;
            try
            {
                store.DiscardPendingTemp();
                // Index and stamp are written while we still hold the lock.
                store.FinishIndex(Index);
            }
            finally
            {
                store._held = null;
                if (!fd.IsClosed) Interop.flock(fd, Interop.LOCK_UN);
            }
        }
    }
}
