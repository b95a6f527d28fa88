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
/// <remarks>
/// Finding an attachment's reservations goes through the owner index in <c>.owners/</c> (see
/// DiskReservationStore.Owners.cs): a validated hint, trusted only while the directory is unchanged since our last
/// write, rebuilt by one full scan (getdents64 plus one openat/read per address file) when someone else, e.g. the
/// reference plugin, has written. While the lock is held after a scan, the names it saw are known taken, so
/// allocation skips them without a system call.
/// </remarks>
public sealed partial class DiskReservationStore : IReservationStore, IDisposable
{
    public const string LockFileName = "lock";
    public const string LastReservedPrefix = "last_reserved_ip.";
    /// <summary>Temporary files start with this; any present while we hold the lock were left by a crashed writer.</summary>
    internal const string TempPrefix = ".host-local-tmp.";
    private const string LineBreak = "\r\n";

    private readonly string _dir;
    private readonly TimeSpan _lockTimeout;
    private static int s_tempCounter;

    public DiskReservationStore(string dataDir, string network, TimeSpan? lockTimeout = null)
    {
        StoreNames.ValidateNetworkName(network);
        _dir = Path.Combine(string.IsNullOrEmpty(dataDir) ? IpamConfig.DefaultDataDir : dataDir, network);
        _lockTimeout = lockTimeout ?? IpamConfig.DefaultLockTimeout;
    }

    /// <summary>The network's directory: <c>dataDir/network</c>.</summary>
    public string Directory => _dir;

    private string PathOf(string name) => Path.Combine(_dir, name);

    private void EnsureDirectory()
    {
        try
        {
            MakeDirectory(_dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreIOException($"cannot create store directory {_dir}: {e.Message}", e);
        }
    }

    public bool TryReserve(IPAddress ip, string containerId, string ifname, int rangeSetIndex)
    {
        string name = IPAddressMath.Format(ip);
        if (_held is { Taken: { } taken } && taken.Contains(name)) return false;

        byte[] content = Encoding.UTF8.GetBytes(containerId.Trim() + LineBreak + ifname);
        string final = PathOf(name);
        int errno = LinkReservation(content, final);
        if (errno != 0)
        {
            if (errno != Interop.EEXIST) throw Interop.ErrnoException("link", final, errno);
            _held?.Taken?.Add(name);
            return false;
        }
        DiscardPendingTemp();
        _held?.Taken?.Add(name);
        if (_held is not null)
        {
            IndexAdd(name, containerId.Trim(), ifname);
            _held.Index.Changed = true;
        }
        // Like the reference, the last-reserved record is written after the reservation, in place: it is only a
        // hint, and a torn one reads as another address or none (LastReserved), never as an error. When it cannot be
        // written at all (a failing or full disk), the ADD fails, and takes back the reservation it just made.
        try
        {
            WriteInPlace(PathOf(LastReservedPrefix + rangeSetIndex), Encoding.ASCII.GetBytes(name));
        }
        catch (StoreIOException)
        {
            try
            {
                ReleaseAddress(ip);
            }
            catch (StoreIOException)
            {
                // The first failure is the one to report; a DEL of this attachment releases the address later.
            }
            throw;
        }
        return true;
    }

    public IPAddress? LastReserved(int rangeSetIndex)
    {
        var bytes = ReadSmallFile(PathOf(LastReservedPrefix + rangeSetIndex));
        if (bytes is null) return null;
        return IPAddressMath.TryParse(Encoding.ASCII.GetString(bytes).Trim(), out var ip) ? ip : null;
    }

    public IReadOnlyList<IPAddress> Release(string containerId, string ifname)
    {
        var (exact, legacy) = FindOwned(containerId, ifname);
        // Files written by older reference versions (container ID only) count only when nothing matches exactly, as in the reference.
        var victims = exact.Count > 0 ? exact : legacy;
        var released = new List<IPAddress>();
        foreach (var ip in victims)
            if (ReleaseAddress(ip)) released.Add(ip);
        return released;
    }

    public bool ReleaseAddress(IPAddress ip)
    {
        string name = IPAddressMath.Format(ip);
        string path = PathOf(name);
        // The owner names the index bucket to clean; one small read, only when the index is in use.
        bool indexed = _held is { Index.Ready: true };
        string? owner = indexed ? OwnerIn(ReadSmallFile(path)) : null;
        if (Interop.unlink(path) == 0)
        {
            _held?.Taken?.Remove(name);
            if (_held is not null)
            {
                _held.Index.Changed = true;
                if (indexed) IndexRemove(name, owner);
            }
            return true;
        }
        int errno = Interop.LastErrno;
        if (errno == Interop.ENOENT) return false;
        throw Interop.ErrnoException("unlink", path, errno);
    }

    /// <summary>The container ID an address file names, or null for an empty/unreadable (stale) one.</summary>
    private static string? OwnerIn(byte[]? content)
    {
        if (content is null) return null;
        var text = Encoding.UTF8.GetString(content.AsSpan().Trim(" \t\r\n\v\f"u8));
        if (text.Length == 0) return null;
        int br = text.IndexOf(LineBreak, StringComparison.Ordinal);
        return br < 0 ? text : text[..br];
    }

    public IReadOnlyList<IPAddress> GetByOwner(string containerId, string ifname)
    {
        var (exact, legacy) = FindOwned(containerId, ifname);
        exact.AddRange(legacy);
        return exact;
    }

    /// <summary>
    /// The addresses held as "id\r\nifname" and those held as "id" alone (older reference files): through the
    /// owner index under the lock, by a scan otherwise.
    /// </summary>
    private (List<IPAddress> Exact, List<IPAddress> Legacy) FindOwned(string containerId, string ifname) =>
        _held is null ? FindOwnedByScan(containerId, ifname) : FindOwnedIndexed(containerId, ifname);

    private (List<IPAddress> Exact, List<IPAddress> Legacy) FindOwnedByScan(string containerId, string ifname)
    {
        byte[] exactBytes = Encoding.UTF8.GetBytes(containerId.Trim() + LineBreak + ifname);
        byte[] legacyBytes = Encoding.UTF8.GetBytes(containerId.Trim());
        var exact = new List<IPAddress>();
        var legacy = new List<IPAddress>();
        Scan((name, content, readable) =>
        {
            if (!readable) return;
            var trimmed = content.Trim(" \t\r\n\v\f"u8);
            bool isExact = trimmed.SequenceEqual(exactBytes);
            if (!isExact && !trimmed.SequenceEqual(legacyBytes)) return;
            if (!IPAddressMath.TryParse(name, out var ip)) return;
            (isExact ? exact : legacy).Add(ip);
        });
        return (exact, legacy);
    }

    /// <summary>Every reservation; an empty or unreadable file is a stale one (no owner). Callers hold the lock.</summary>
    public IReadOnlyList<Reservation> ListAll() => _held is null ? ScanAll() : ListAllIndexed();

    /// <summary>A full scan into reservations.</summary>
    private List<Reservation> ScanAll()
    {
        var list = new List<Reservation>();
        Scan((name, content, readable) =>
        {
            if (!IPAddressMath.TryParse(name, out var ip)) return;
            var text = readable ? Encoding.UTF8.GetString(content.Trim(" \t\r\n\v\f"u8)) : "";
            if (text.Length == 0)
            {
                list.Add(new Reservation(ip, null, null));
                return;
            }
            int br = text.IndexOf(LineBreak, StringComparison.Ordinal);
            list.Add(br < 0
                ? new Reservation(ip, text, null)
                : new Reservation(ip, text[..br], text[(br + LineBreak.Length)..]));
        });
        return list;
    }

    /// <summary>mkdir -p, with the common case (only the last level missing, or none) in one system call.</summary>
    private static void MakeDirectory(string path)
    {
        if (Interop.mkdir(path, 0b111_111_111) == 0 || Interop.LastErrno == Interop.EEXIST) return;
        System.IO.Directory.CreateDirectory(path); // parents missing, or the error to report
    }

    /// <summary>Reads a whole file with open/read/close; null and the errno when it cannot be opened or read.</summary>
    private static unsafe byte[]? ReadWholeFile(string path, out int errno)
    {
        errno = 0;
        using var fd = Interop.open(path, Interop.O_RDONLY | Interop.O_NOFOLLOW);
        if (fd.IsInvalid)
        {
            errno = Interop.LastErrno;
            return null;
        }
        var buffer = new byte[4096];
        int total = 0;
        while (true)
        {
            if (total == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            nint n;
            fixed (byte* p = &buffer[total]) n = Interop.read(fd, p, buffer.Length - total);
            if (n < 0)
            {
                errno = Interop.LastErrno;
                if (errno == Interop.EINTR) continue;
                return null;
            }
            if (n == 0) return buffer.AsSpan(0, total).ToArray();
            total += (int)n;
        }
    }

    /// <summary>Reads a file of at most 4 KiB with open/read/close; null when it cannot be opened or read.</summary>
    private static unsafe byte[]? ReadSmallFile(string path)
    {
        using var fd = Interop.open(path, Interop.O_RDONLY | Interop.O_NOFOLLOW);
        if (fd.IsInvalid) return null;
        byte* buf = stackalloc byte[4096];
        int n = ReadUpTo(fd, buf, 4096);
        return n < 0 ? null : new ReadOnlySpan<byte>(buf, n).ToArray();
    }

    /// <summary>Reads until EOF or the buffer is full; a short read of a regular file is its end. -1 on error.</summary>
    private static unsafe int ReadUpTo(SafeFileHandle fd, byte* buf, int size)
    {
        int total = 0;
        while (total < size)
        {
            nint n = Interop.read(fd, buf + total, size - total);
            if (n < 0)
            {
                if (Interop.LastErrno == Interop.EINTR) continue;
                return -1;
            }
            if (n == 0) break;
            total += (int)n;
            if (total < size) break;
        }
        return total;
    }

    /// <summary>Writes content to a fresh temporary file in the store directory and returns its path.</summary>
    private string WriteTemp(ReadOnlySpan<byte> content)
    {
        while (true)
        {
            string temp = PathOf($"{TempPrefix}{Environment.ProcessId}.{Interlocked.Increment(ref s_tempCounter)}");
            using var fd = Interop.open(temp, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW, 0b110_100_100);
            if (fd.IsInvalid)
            {
                int errno = Interop.LastErrno;
                if (errno == Interop.EEXIST) continue; // a leftover of an earlier process with our pid
                throw Interop.ErrnoException("open", temp, errno);
            }
            WriteAll(fd, content, temp);
            return temp;
        }
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

    /// <summary>
    /// Overwrites a file in place, for hints whose torn state is harmless: write from the start, then cut to the new
    /// length. Never truncating to zero keeps ext4 from freeing (and discarding) the file's block and from flushing
    /// it on close, as it does for the truncate-and-rewrite pattern. False when <paramref name="create"/> is false
    /// and the file does not exist.
    /// </summary>
    private static bool WriteInPlace(string path, ReadOnlySpan<byte> content, bool create = true)
    {
        using var fd = Interop.open(path, Interop.O_WRONLY | Interop.O_NOFOLLOW | (create ? Interop.O_CREAT : 0), 0b110_100_100);
        if (fd.IsInvalid)
        {
            if (!create && Interop.LastErrno == Interop.ENOENT) return false;
            Interop.ThrowForLastError("open", path);
        }
        WriteAll(fd, content, path);
        if (Interop.ftruncate(fd, content.Length) != 0) Interop.ThrowForLastError("ftruncate", path);
        return true;
    }

    // The owner line is written once, to an unnamed file (O_TMPFILE), and linked to candidate after candidate: a
    // complete reservation appears with a single directory operation, a taken address costs one failed link()
    // (like the reference's one failed open(O_EXCL)), and a crash leaves nothing behind. A file system without
    // O_TMPFILE gets a named temporary file instead, unlinked afterwards.
    private SafeFileHandle? _pendingFd;
    private string? _pendingTemp;
    private byte[]? _pendingContent;
    /// <summary>Set once O_TMPFILE failed here (tests set it to take the named-file path).</summary>
    internal static bool TmpFileUnsupported;

    /// <summary>Links a file holding <paramref name="content"/> at <paramref name="final"/>: 0, or the errno (EEXIST: taken).</summary>
    private int LinkReservation(byte[] content, string final)
    {
        if (_pendingContent is null || !_pendingContent.AsSpan().SequenceEqual(content))
        {
            DiscardPendingTemp();
            if (!TmpFileUnsupported)
            {
                var fd = Interop.open(_dir, Interop.O_TMPFILE | Interop.O_WRONLY, 0b110_100_100);
                if (fd.IsInvalid)
                {
                    fd.Dispose();
                    TmpFileUnsupported = true; // EOPNOTSUPP, EISDIR or EINVAL: not on this file system
                }
                else
                {
                    WriteAll(fd, content, _dir);
                    _pendingFd = fd;
                }
            }
            if (_pendingFd is null) _pendingTemp = WriteTemp(content);
            _pendingContent = content;
        }
        if (_pendingFd is not null)
        {
            int fd = (int)_pendingFd.DangerousGetHandle();
            if (Interop.linkat(fd, "", Interop.AT_FDCWD, final, Interop.AT_EMPTY_PATH) == 0) return 0;
            int errno = Interop.LastErrno;
            // Linking by descriptor needs CAP_DAC_READ_SEARCH (ENOENT without it); through /proc it does not.
            if (errno != Interop.ENOENT) return errno;
            return Interop.linkat(Interop.AT_FDCWD, $"/proc/self/fd/{fd}", Interop.AT_FDCWD, final, Interop.AT_SYMLINK_FOLLOW) == 0 ? 0 : Interop.LastErrno;
        }
        return Interop.link(_pendingTemp!, final) == 0 ? 0 : Interop.LastErrno;
    }

    private void DiscardPendingTemp()
    {
        _pendingFd?.Dispose();
        _pendingFd = null;
        if (_pendingTemp is not null) Interop.unlink(_pendingTemp);
        _pendingTemp = null;
        _pendingContent = null;
    }

    /// <summary>STATUS: the directory can be created and a file written in it.</summary>
    /// <remarks>The probe file goes in .owners/, so STATUS does not change the network directory's mtime and cost the next ADD a scan.</remarks>
    public void ProbeWritable()
    {
        EnsureDirectory();
        try
        {
            MakeDirectory(OwnersDir);
            string temp = Path.Combine(OwnersDir, $"{IndexTempPrefix}{Environment.ProcessId}.{Interlocked.Increment(ref s_tempCounter)}");
            File.WriteAllBytes(temp, "status"u8.ToArray());
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreIOException($"cannot write in store directory {_dir}: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        DiscardPendingTemp();
        _held?.Dispose();
        _lockFd?.Dispose();
        _lockFd = null;
    }
}
