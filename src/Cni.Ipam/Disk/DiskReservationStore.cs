using System.IO.Enumeration;
using System.Net;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Cni.Ipam.Disk;

/// <summary>
/// The reference host-local's on-disk layout, so the reference plugin and this one can share a store:
/// <c>dataDir/network/</c> holds one file per reserved address (named as Go prints the address) containing
/// <c>containerID\r\nifname</c>, <c>last_reserved_ip.N</c> per range set, and <c>lock</c>, taken with flock.
/// Reservations are written to a temporary name and linked into place, so one is visible complete or not at
/// all and link()'s EEXIST gives the same "first one wins" as the reference's O_EXCL create.
/// </summary>
public sealed partial class DiskReservationStore : IReservationStore, IDisposable
{
    public const string LockFileName = "lock";
    public const string LastReservedPrefix = "last_reserved_ip.";
    /// <summary>Temporary files start with this; any present while we hold the lock were left by a crashed writer.</summary>
    internal const string TempPrefix = ".host-local-tmp.";
    private const string LineBreak = "\r\n";

    private readonly string _dir;
    private readonly TimeSpan _lockTimeout;
    private SafeFileHandle? _lockFd;
    private static int s_tempCounter;

    public DiskReservationStore(string dataDir, string network, TimeSpan? lockTimeout = null)
    {
        StoreNames.ValidateNetworkName(network);
        _dir = Path.Combine(string.IsNullOrEmpty(dataDir) ? IpamConfig.DefaultDataDir : dataDir, network);
        _lockTimeout = lockTimeout ?? IpamConfig.DefaultLockTimeout;
    }

    /// <summary>The network's directory: <c>dataDir/network</c>.</summary>
    public string Directory => _dir;

    private string PathOf(IPAddress ip) => Path.Combine(_dir, IPAddressMath.Format(ip));

    private void EnsureDirectory()
    {
        try
        {
            System.IO.Directory.CreateDirectory(_dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreIOException($"cannot create store directory {_dir}: {e.Message}", e);
        }
    }

    public bool TryReserve(IPAddress ip, string containerId, string ifname, int rangeSetIndex)
    {
        string final = PathOf(ip);
        string temp = WriteTemp(Encoding.UTF8.GetBytes(containerId.Trim() + LineBreak + ifname));
        try
        {
            if (Interop.link(temp, final) != 0)
            {
                int errno = Interop.LastErrno;
                if (errno == Interop.EEXIST) return false;
                throw Interop.ErrnoException("link", final, errno);
            }
        }
        finally
        {
            Interop.unlink(temp);
        }
        // Like the reference, the last-reserved record is written after the reservation; it is only a hint.
        WriteReplacing(Path.Combine(_dir, LastReservedPrefix + rangeSetIndex), Encoding.ASCII.GetBytes(IPAddressMath.Format(ip)));
        return true;
    }

    public IPAddress? LastReserved(int rangeSetIndex)
    {
        var bytes = ReadSmallFile(Path.Combine(_dir, LastReservedPrefix + rangeSetIndex), out _);
        if (bytes is null) return null;
        return IPAddressMath.TryParse(Encoding.ASCII.GetString(bytes).Trim(), out var ip) ? ip : null;
    }

    public IReadOnlyList<IPAddress> Release(string containerId, string ifname)
    {
        var all = ListAll();
        var exact = all.Where(r => r.ContainerId == containerId && r.InterfaceName == ifname).ToList();
        // For files written by older reference versions (container ID only), as the reference does.
        var victims = exact.Count > 0 ? exact : all.Where(r => r.ContainerId == containerId && r.InterfaceName is null).ToList();
        var released = new List<IPAddress>();
        foreach (var r in victims)
            if (ReleaseAddress(r.Address)) released.Add(r.Address);
        return released;
    }

    public bool ReleaseAddress(IPAddress ip)
    {
        string path = PathOf(ip);
        if (Interop.unlink(path) == 0) return true;
        int errno = Interop.LastErrno;
        if (errno == Interop.ENOENT) return false;
        throw Interop.ErrnoException("unlink", path, errno);
    }

    public IReadOnlyList<IPAddress> GetByOwner(string containerId, string ifname)
    {
        var list = new List<IPAddress>();
        foreach (var r in ListAll())
            if (r.IsOwnedBy(containerId, ifname)) list.Add(r.Address);
        return list;
    }

    /// <summary>
    /// Every reservation: a scan of the directory's names, reading only the files whose names are addresses.
    /// Leftover temporary files (from a writer killed mid-reservation) are removed on the way; callers hold the lock.
    /// </summary>
    public IReadOnlyList<Reservation> ListAll()
    {
        var list = new List<Reservation>();
        if (!System.IO.Directory.Exists(_dir)) return list;
        var names = new FileSystemEnumerable<string>(_dir, (ref FileSystemEntry e) => e.FileName.ToString(),
            new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0 })
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.IsDirectory,
        };
        foreach (var name in names)
        {
            if (name.StartsWith(TempPrefix, StringComparison.Ordinal))
            {
                Interop.unlink(Path.Combine(_dir, name));
                continue;
            }
            if (name == LockFileName || name.StartsWith(LastReservedPrefix, StringComparison.Ordinal)) continue;
            if (!IPAddressMath.TryParse(name, out var ip)) continue;
            list.Add(ReadReservation(ip, Path.Combine(_dir, name)));
        }
        return list;
    }

    private static Reservation ReadReservation(IPAddress ip, string path)
    {
        var bytes = ReadSmallFile(path, out _);
        if (bytes is null) return new Reservation(ip, null, null);
        var text = Encoding.UTF8.GetString(bytes).Trim();
        if (text.Length == 0) return new Reservation(ip, null, null);
        int br = text.IndexOf(LineBreak, StringComparison.Ordinal);
        return br < 0
            ? new Reservation(ip, text, null)
            : new Reservation(ip, text[..br], text[(br + LineBreak.Length)..]);
    }

    /// <summary>Reads a file of at most 4 KiB with open/read/close; null when it cannot be opened or read.</summary>
    private static unsafe byte[]? ReadSmallFile(string path, out int errno)
    {
        errno = 0;
        using var fd = Interop.open(path, Interop.O_RDONLY | Interop.O_NOFOLLOW);
        if (fd.IsInvalid)
        {
            errno = Interop.LastErrno;
            return null;
        }
        byte* buf = stackalloc byte[4096];
        int total = 0;
        while (total < 4096)
        {
            nint n = Interop.read(fd, buf + total, 4096 - total);
            if (n < 0)
            {
                errno = Interop.LastErrno;
                if (errno == Interop.EINTR) continue;
                return null;
            }
            if (n == 0) break;
            total += (int)n;
        }
        return new ReadOnlySpan<byte>(buf, total).ToArray();
    }

    /// <summary>Writes content to a fresh temporary file in the store directory and returns its path.</summary>
    private string WriteTemp(ReadOnlySpan<byte> content)
    {
        EnsureDirectory();
        string temp = Path.Combine(_dir, $"{TempPrefix}{Environment.ProcessId}.{Interlocked.Increment(ref s_tempCounter)}");
        using var fd = Interop.open(temp, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW, 0b110_100_100);
        if (fd.IsInvalid)
        {
            int errno = Interop.LastErrno;
            if (errno == Interop.EEXIST)
            {
                Interop.unlink(temp);
                return WriteTemp(content);
            }
            throw Interop.ErrnoException("open", temp, errno);
        }
        WriteAll(fd, content, temp);
        return temp;
    }

    private static unsafe void WriteAll(SafeFileHandle fd, ReadOnlySpan<byte> content, string path)
    {
        fixed (byte* p = content)
        {
            int done = 0;
            while (done < content.Length)
            {
                nint n = Interop.write(fd, p + done, content.Length - done);
                if (n < 0)
                {
                    int errno = Interop.LastErrno;
                    if (errno == Interop.EINTR) continue;
                    Interop.unlink(path);
                    throw Interop.ErrnoException("write", path, errno);
                }
                done += (int)n;
            }
        }
    }

    /// <summary>Replaces a file atomically (temporary file, then rename over it).</summary>
    private void WriteReplacing(string path, ReadOnlySpan<byte> content)
    {
        string temp = WriteTemp(content);
        if (Interop.rename(temp, path) != 0)
        {
            int errno = Interop.LastErrno;
            Interop.unlink(temp);
            throw Interop.ErrnoException("rename", path, errno);
        }
    }

    /// <summary>STATUS: the directory can be created and a file written in it.</summary>
    public void ProbeWritable()
    {
        string temp = WriteTemp("status"u8);
        Interop.unlink(temp);
    }

    public void Dispose()
    {
        _lockFd?.Dispose();
        _lockFd = null;
    }
}
