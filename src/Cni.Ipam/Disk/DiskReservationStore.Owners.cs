using System.Net;
using System.Text;

namespace Cni.Ipam.Disk;

// The owner index: finding an attachment's reservations without reading every address file.
//
// Layout: dataDir/network/.owners/ holds "bucket.XX" files (XX = FNV-1a of the container ID, 256 buckets), each a
// header line then one line per reservation: "address\tcontainerID\tifname" ("address\tcontainerID" for the
// reference's old container-ID-only files, "address" alone for a stale ownerless file), and "stamp": the network
// directory's inode, mtime and ctime (ns) as they were when we last left the index matching the directory.
//
// Trust: the index is a hint. It is trusted only while the stamp equals the directory's current statx: every
// create/unlink/rename in the network directory (ours or the reference's, which knows nothing of the index)
// changes its mtime/ctime, so a foreign write, or a crash of ours between a reservation and its index update,
// leaves a mismatch and the next call does one full scan and rebuilds the index. Every hinted address is also
// verified against its address file (an O(1) read) before it is believed; a failed check while the stamp said
// "trusted" also forces the scan. All of this happens under the store's flock.
//
// Timestamp granularity: a file system may stamp with the coarse clock, so a foreign write in the same tick as our
// last write could leave the mtime unchanged. Before writing the stamp (and releasing the lock) we wait, at most
// one tick (4 ms at HZ=250), until CLOCK_REALTIME_COARSE is past the mtime we recorded; every later write, which
// needs the lock, then gets a different mtime. File systems with multigrain timestamps (Linux 6.13+: ext4, xfs,
// btrfs, tmpfs) need no wait: we read the directory's times with statx after our last write, which marks them
// queried, and the kernel then gives the next change a fine-grained time distinct from the one we saw.
//
// Reference compatibility: the reference walks the network directory recursively (filepath.Walk) in
// GetByID/ReleaseByID/FindByID and reads every regular file, so it reads ours too. It matches a file's trimmed
// content against "id\r\nifname" or "id" and parses the file name as an IP: our files start with a '#' header
// line (container IDs start with a letter or digit and hold no '#' or newline) and are named "bucket.XX" or
// "stamp" (not addresses), so it never matches, removes or reports them. Its Reserve/LastReservedIP only touch
// address and last_reserved_ip.N files. Our own Scan skips directories.
public sealed partial class DiskReservationStore
{
    internal const string OwnersDirName = ".owners";
    internal const string StampFileName = "stamp";
    internal const string BucketPrefix = "bucket.";
    private const string IndexTempPrefix = "tmp.";
    private const int BucketCount = 256;
    private const string IndexHeader = "# host-local owner index v1: a hint, checked against the address files\n";

    private readonly record struct IndexEntry(string Address, string? ContainerId, string? InterfaceName);

    private string OwnersDir => Path.Combine(_dir, OwnersDirName);

    /// <summary>What the index is doing inside one lock scope.</summary>
    private sealed class IndexState
    {
        /// <summary>The index matches the directory for the rest of this scope (stamp matched, or rebuilt by a scan).</summary>
        public bool Ready;
        /// <summary>This scope did the full scan; its result is <see cref="Scanned"/>.</summary>
        public bool Rebuilt;
        /// <summary>Something we must record at the end: a write in the network directory or the index.</summary>
        public bool Changed;
        /// <summary>A foreign file names an owner our line format cannot hold (tab or line break): keep no stamp, scan every time.</summary>
        public bool Unpersistable;
        public readonly Dictionary<int, List<IndexEntry>> Buckets = new();
        public readonly HashSet<int> Dirty = new();
    }

    private IndexState Index => (_held ?? throw new InvalidOperationException("the owner index is used only under the store lock")).Index;

    /// <summary>Stable across processes (string.GetHashCode is randomised per process).</summary>
    private static int BucketOf(string? containerId)
    {
        uint h = 2166136261;
        foreach (char c in containerId ?? "")
        {
            h ^= c;
            h *= 16777619;
        }
        return (int)(h & (BucketCount - 1));
    }

    private string BucketPath(int b) => Path.Combine(OwnersDir, BucketPrefix + b.ToString("x2"));

    /// <summary>Makes the index usable in this scope: trusted when the stamp matches the directory, otherwise scan and rebuild.</summary>
    private void EnsureIndex()
    {
        var ix = Index;
        if (ix.Ready) return;
        if (StampMatches())
        {
            ix.Ready = true;
            return;
        }
        RebuildIndex();
    }

    /// <summary>How many times this instance fell back to the full scan (tests watch it).</summary>
    internal int FullScans { get; private set; }

    /// <summary>One full scan of the directory; the index is rewritten from it at the end of the scope.</summary>
    private void RebuildIndex()
    {
        var ix = Index;
        FullScans++;
        var all = ScanAll();
        ix.Buckets.Clear();
        for (int b = 0; b < BucketCount; b++)
        {
            ix.Buckets[b] = new List<IndexEntry>();
            ix.Dirty.Add(b);
        }
        foreach (var r in all)
        {
            if (r.ContainerId?.AsSpan().IndexOfAny('\t', '\r', '\n') >= 0 || r.InterfaceName?.AsSpan().IndexOfAny('\t', '\r', '\n') >= 0)
                ix.Unpersistable = true;
            ix.Buckets[BucketOf(r.ContainerId)].Add(new IndexEntry(IPAddressMath.Format(r.Address), r.ContainerId, r.InterfaceName));
        }
        ix.Ready = ix.Rebuilt = ix.Changed = true;
    }

    /// <summary>The entries of one bucket; an unreadable or foreign-looking bucket file forces a rebuild.</summary>
    private List<IndexEntry> Bucket(int b)
    {
        var ix = Index;
        if (ix.Buckets.TryGetValue(b, out var list)) return list;
        var parsed = ReadBucket(b);
        if (parsed is null)
        {
            RebuildIndex();
            return ix.Buckets[b];
        }
        ix.Buckets[b] = parsed;
        return parsed;
    }

    private List<IndexEntry>? ReadBucket(int b)
    {
        // Raw reads: a missing bucket is the common case, and an exception for it would cost more than the read.
        var bytes = ReadWholeFile(BucketPath(b), out int errno);
        if (bytes is null) return errno == Interop.ENOENT ? new List<IndexEntry>() : null;
        var text = Encoding.UTF8.GetString(bytes);
        if (!text.StartsWith(IndexHeader, StringComparison.Ordinal)) return null;
        var list = new List<IndexEntry>();
        foreach (var line in text[IndexHeader.Length..].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('\t');
            if (f.Length > 3 || !IPAddressMath.TryParse(f[0], out _)) return null;
            list.Add(new IndexEntry(f[0], f.Length > 1 ? f[1] : null, f.Length > 2 ? f[2] : null));
        }
        return list;
    }

    private void IndexAdd(string address, string? containerId, string? ifname)
    {
        var ix = Index;
        if (!ix.Ready) return;
        int b = BucketOf(containerId);
        var list = Bucket(b);
        list.RemoveAll(e => e.Address == address);
        list.Add(new IndexEntry(address, containerId, ifname));
        ix.Dirty.Add(b);
    }

    private void IndexRemove(string address, string? containerId)
    {
        var ix = Index;
        if (!ix.Ready) return;
        int b = BucketOf(containerId);
        if (Bucket(b).RemoveAll(e => e.Address == address) > 0) ix.Dirty.Add(b);
    }

    /// <summary>The attachment's reservations from the index, each checked against its address file.</summary>
    private (List<IPAddress> Exact, List<IPAddress> Legacy) FindOwnedIndexed(string containerId, string ifname)
    {
        EnsureIndex();
        string id = containerId.Trim();
        while (true)
        {
            var exact = new List<IPAddress>();
            var legacy = new List<IPAddress>();
            bool allValid = true;
            foreach (var e in Bucket(BucketOf(id)))
            {
                if (e.ContainerId != id || (e.InterfaceName is not null && e.InterfaceName != ifname)) continue;
                var content = ReadSmallFile(PathOf(e.Address));
                byte[] expected = Encoding.UTF8.GetBytes(e.InterfaceName is null ? id : id + LineBreak + e.InterfaceName);
                if (content is null || !content.AsSpan().Trim(" \t\r\n\v\f"u8).SequenceEqual(expected) ||
                    !IPAddressMath.TryParse(e.Address, out var ip))
                {
                    allValid = false;
                    break;
                }
                (e.InterfaceName is null ? legacy : exact).Add(ip);
            }
            if (allValid) return (exact, legacy);
            // The stamp said the index was exact, yet a hint was wrong: believe nothing it says, scan once.
            if (Index.Rebuilt) throw new StoreIOException($"owner index of {_dir} disagrees with the scan that just built it");
            RebuildIndex();
        }
    }

    /// <summary>Every reservation: from the index when it is trusted, from the scan that rebuilt it otherwise.</summary>
    private List<Reservation> ListAllIndexed()
    {
        EnsureIndex();
        var list = new List<Reservation>();
        for (int b = 0; b < BucketCount; b++)
            foreach (var e in Bucket(b))
                if (IPAddressMath.TryParse(e.Address, out var ip))
                    list.Add(new Reservation(ip, e.ContainerId, e.ContainerId is null ? null : e.InterfaceName));
        return list;
    }

    /// <summary>The directory's identity and change times, as the stamp records them; null when it cannot be read.</summary>
    private string? DirectoryStamp(out long mtimeSec, out long mtimeNsec)
    {
        mtimeSec = mtimeNsec = 0;
        if (Interop.statx(Interop.AT_FDCWD, _dir, Interop.AT_STATX_SYNC_AS_STAT, Interop.STATX_BASIC_STATS, out var st) != 0) return null;
        mtimeSec = st.stx_mtime_sec;
        mtimeNsec = st.stx_mtime_nsec;
        return $"{st.stx_ino} {st.stx_mtime_sec}.{st.stx_mtime_nsec:D9} {st.stx_ctime_sec}.{st.stx_ctime_nsec:D9}\n";
    }

    private bool StampMatches()
    {
        var recorded = ReadSmallFile(Path.Combine(OwnersDir, StampFileName));
        if (recorded is null) return false;
        var now = DirectoryStamp(out _, out _);
        return now is not null && Encoding.ASCII.GetString(recorded) == now;
    }

    /// <summary>
    /// End of a lock scope: writes the changed buckets, waits until the coarse clock has left the directory
    /// mtime's tick, then writes the stamp. Every file is rewritten in place (a new inode per call costs more on
    /// ext4 than the whole rewrite), so the stamp is first overwritten with a value no directory can match: a crash
    /// while a bucket is half-written leaves a mismatch, and the next call rescans. Errors only cost the next call
    /// a scan: the stamp is removed, never left matching an index we failed to write.
    /// </summary>
    private void FinishIndex(IndexState ix)
    {
        if (!ix.Ready || !ix.Changed) return;
        string stampPath = Path.Combine(OwnersDir, StampFileName);
        if (ix.Unpersistable)
        {
            Interop.unlink(stampPath);
            return;
        }
        try
        {
            MakeDirectory(OwnersDir);
            if (ix.Rebuilt) RemoveIndexLeftovers();
            if (ix.Dirty.Count > 0) WriteInPlace(stampPath, StampInvalid);
            foreach (int b in ix.Dirty)
            {
                var list = ix.Buckets[b];
                var sb = new StringBuilder(IndexHeader);
                foreach (var e in list)
                {
                    sb.Append(e.Address);
                    if (e.ContainerId is not null)
                    {
                        sb.Append('\t').Append(e.ContainerId);
                        if (e.InterfaceName is not null) sb.Append('\t').Append(e.InterfaceName);
                    }
                    sb.Append('\n');
                }
                // An empty bucket is kept as a header (its inode reused later), and never created.
                WriteInPlace(BucketPath(b), Encoding.UTF8.GetBytes(sb.ToString()), create: list.Count > 0);
            }
            var stamp = DirectoryStamp(out long sec, out long nsec);
            if (stamp is null)
            {
                Interop.unlink(stampPath);
                return;
            }
            // Wait first: if we die while waiting, the old stamp stays and mismatches.
            if (!HasMultigrainTimestamps() && !WaitPastTick(sec, nsec))
            {
                Interop.unlink(stampPath);
                return;
            }
            WriteInPlace(stampPath, Encoding.ASCII.GetBytes(stamp));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StoreIOException)
        {
            Interop.unlink(stampPath);
        }
    }

    /// <summary>What the stamp holds while buckets are being rewritten: no directory's stamp looks like it.</summary>
    private static ReadOnlySpan<byte> StampInvalid => "updating\n"u8;

    /// <summary>Temporary files in .owners left by a killed writer of an older version (looked for only when rebuilding).</summary>
    private void RemoveIndexLeftovers()
    {
        foreach (var f in System.IO.Directory.EnumerateFiles(OwnersDir, IndexTempPrefix + "*"))
            Interop.unlink(f);
    }

    /// <summary>Linux 6.13 or later and a file system that uses multigrain timestamps there.</summary>
    private unsafe bool HasMultigrainTimestamps()
    {
        var kernel = Environment.OSVersion.Version;
        if (kernel < new Version(6, 13)) return false;
        byte* buf = stackalloc byte[256];
        if (Interop.statfs(_dir, buf) != 0) return false;
        long type = *(long*)buf;
        return type is Interop.EXT4_SUPER_MAGIC or Interop.XFS_SUPER_MAGIC or Interop.BTRFS_SUPER_MAGIC or Interop.TMPFS_MAGIC;
    }

    /// <summary>
    /// Waits until CLOCK_REALTIME_COARSE is past the recorded mtime (the coarse clock ticks every 1-10 ms; usually
    /// it already is). False after 50 ms (a clock stepped back): the caller then drops the stamp.
    /// </summary>
    internal static bool WaitPastTick(long sec, long nsec)
    {
        long deadline = Environment.TickCount64 + 50;
        while (Interop.clock_gettime(Interop.CLOCK_REALTIME_COARSE, out var now) == 0)
        {
            if (now.tv_sec > sec || (now.tv_sec == sec && now.tv_nsec > nsec)) return true;
            if (Environment.TickCount64 > deadline) return false;
            Thread.Sleep(1);
        }
        return false;
    }
}
