namespace Cni.Ipam.Cluster;

/// <summary>A key's value and the revision of its last write.</summary>
public sealed record StoredValue(string Key, byte[] Value, long ModRevision);

/// <summary>One key, or every key under a prefix.</summary>
public sealed record KeyQuery(string Key, bool Prefix = false, bool KeysOnly = false);

/// <summary>A write of a transaction: a put, or a delete when <see cref="Value"/> is null.</summary>
public sealed record StoreWrite(string Key, byte[]? Value)
{
    public static StoreWrite Delete(string key) => new(key, null);
}

/// <summary>A condition of a transaction: the key was last written at <see cref="ModRevision"/> (0: the key is absent).</summary>
public sealed record Expect(string Key, long ModRevision);

/// <summary>
/// The key-value store cluster-ipam keeps its state in (etcd, or a dictionary in tests): consistent multi-key reads
/// and all-or-nothing conditional writes. Implementations throw <see cref="ClusterStoreUnavailableException"/> when
/// the store cannot be reached in time.
/// </summary>
public interface IClusterStore
{
    /// <summary>
    /// One consistent snapshot of several keys or prefixes: one result list per query, keys in order. A
    /// <paramref name="mayBeStale"/> read may come from a member that lags behind (etcd's serializable read: no
    /// round through the leader); callers use it only where a commit's expectations catch a stale answer.
    /// </summary>
    IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false);

    /// <summary>Applies every write when every expectation holds, else nothing; false when an expectation failed.</summary>
    bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes);

    /// <summary>
    /// <see cref="Commit"/> that also tells the revision of the writes (their mod revision; 0 when unknown) and, when an
    /// expectation fails, answers <paramref name="readOnFailure"/> in the same round (for etcd: the transaction's
    /// failure branch, a linearizable snapshot), so a lost race needs no second round trip to read again.
    /// </summary>
    CommitResult CommitOrRead(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes, IReadOnlyList<KeyQuery> readOnFailure) =>
        Commit(expectations, writes) ? new CommitResult(true, 0, null) : new CommitResult(false, 0, Read(readOnFailure));
}

/// <summary>The outcome of <see cref="IClusterStore.CommitOrRead"/>: on failure, one result list per query.</summary>
public sealed record CommitResult(bool Succeeded, long Revision, IReadOnlyList<IReadOnlyList<StoredValue>>? Reads);

/// <summary>The store is unreachable or without quorum: try again later (CNI code 11).</summary>
public sealed class ClusterStoreUnavailableException(string message, Exception? inner = null) : IpamException(message, inner);

/// <summary>Too many concurrent writers won every retry: try again later (CNI code 11).</summary>
public sealed class ClusterStoreConflictException(string message) : IpamException(message);

/// <summary>A pool has no free block left for this node.</summary>
public sealed class PoolExhaustedException(string message) : IpamException(message);
