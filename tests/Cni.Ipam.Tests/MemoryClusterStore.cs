using System.Text;
using Cni.Ipam.Cluster;

namespace Cni.Ipam.Tests;

/// <summary>
/// An in-memory <see cref="IClusterStore"/> with etcd's semantics (a global revision, mod revisions, all-or-nothing
/// conditional commits), thread-safe. <see cref="BeforeCommit"/> runs before each commit outside the lock, so a test
/// can slip in a competing writer; <see cref="Unavailable"/> makes every call fail like etcd without quorum.
/// </summary>
internal sealed class MemoryClusterStore : IClusterStore
{
    private readonly object _lock = new();
    public readonly SortedDictionary<string, (byte[] Value, long Mod)> Data = new(StringComparer.Ordinal);
    public long Revision;
    public int Reads, Commits, FailedCommits;
    public Action? BeforeCommit;
    public bool Unavailable;

    public int StaleReads;

    public IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false)
    {
        if (mayBeStale) StaleReads++;
        if (Unavailable) throw new ClusterStoreUnavailableException("etcd unavailable (test)");
        lock (_lock)
        {
            Reads++;
            return ReadLocked(queries);
        }
    }

    private List<IReadOnlyList<StoredValue>> ReadLocked(IReadOnlyList<KeyQuery> queries)
    {
        var results = new List<IReadOnlyList<StoredValue>>();
        foreach (var q in queries)
        {
            var list = new List<StoredValue>();
            foreach (var (k, (v, mod)) in Data)
                if (q.Prefix ? k.StartsWith(q.Key, StringComparison.Ordinal) : k == q.Key)
                    list.Add(new StoredValue(k, q.KeysOnly ? [] : v, mod));
            results.Add(list);
        }
        return results;
    }

    public bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) => CommitAt(expectations, writes) > 0;

    /// <summary>Like etcd's transaction with a failure branch: the reads come from the same locked snapshot.</summary>
    public CommitResult CommitOrRead(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes, IReadOnlyList<KeyQuery> readOnFailure)
    {
        long revision = CommitAt(expectations, writes, readOnFailure, out var reads);
        return revision > 0 ? new CommitResult(true, revision, null) : new CommitResult(false, 0, reads);
    }

    public int FailureReads;

    private long CommitAt(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) => CommitAt(expectations, writes, null, out _);

    /// <summary>The revision of the writes, or 0 when an expectation failed (then <paramref name="reads"/> answers <paramref name="readOnFailure"/>).</summary>
    private long CommitAt(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes, IReadOnlyList<KeyQuery>? readOnFailure,
        out IReadOnlyList<IReadOnlyList<StoredValue>>? reads)
    {
        reads = null;
        if (Unavailable) throw new ClusterStoreUnavailableException("etcd unavailable (test)");
        var hook = BeforeCommit;
        BeforeCommit = null;
        hook?.Invoke();
        lock (_lock)
        {
            foreach (var e in expectations)
            {
                long mod = Data.TryGetValue(e.Key, out var cur) ? cur.Mod : 0;
                if (mod != e.ModRevision)
                {
                    FailedCommits++;
                    if (readOnFailure is not null)
                    {
                        FailureReads++;
                        reads = ReadLocked(readOnFailure);
                    }
                    return 0;
                }
            }
            Revision++;
            Commits++;
            foreach (var w in writes)
            {
                if (w.Value is null) Data.Remove(w.Key);
                else Data[w.Key] = (w.Value, Revision);
            }
            return Revision;
        }
    }

    public List<string> Keys(string prefix)
    {
        lock (_lock) return Data.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public string Text(string key)
    {
        lock (_lock) return Encoding.UTF8.GetString(Data[key].Value);
    }
}
