using Cni.Etcd;
using Cni.Ipam.Cluster;

namespace Cni.Plugins.ClusterIpam;

/// <summary>
/// <see cref="IClusterStore"/> on etcd: a read is one transaction of range operations (one consistent revision),
/// a commit one transaction comparing mod revisions (create revision 0 for "absent") with puts and deletes.
/// </summary>
public sealed class EtcdClusterStore : IClusterStore, IDisposable
{
    private readonly EtcdClient _client;

    public EtcdClusterStore(EtcdClient client) => _client = client;

    public static EtcdOptions Options(EtcdSettings s) => new()
    {
        Endpoints = s.Endpoints,
        CaFile = s.CaFile,
        CertFile = s.CertFile,
        KeyFile = s.KeyFile,
        Username = s.Username,
        PasswordFile = s.PasswordFile,
        Timeout = s.Timeout,
        AgentSocket = s.AgentSocket,
        JsonEncoder = Cni.Spec.AsciiJsonEncoder.Instance,
    };

    public IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false) =>
        Results(Unavailable(() => _client.Txn([], RangeOps(queries, mayBeStale))), queries.Count);

    public bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) =>
        Unavailable(() => _client.Txn(Compares(expectations), WriteOps(writes))).Succeeded;

    /// <summary>One transaction: the writes when the expectations hold, else the reads (its failure branch).</summary>
    public CommitResult CommitOrRead(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes, IReadOnlyList<KeyQuery> readOnFailure)
    {
        var response = Unavailable(() => _client.Txn(Compares(expectations), WriteOps(writes), RangeOps(readOnFailure, mayBeStale: false)));
        return response.Succeeded
            ? new CommitResult(true, response.Revision, null)
            : new CommitResult(false, response.Revision, Results(response, readOnFailure.Count));
    }

    private static List<Op> RangeOps(IReadOnlyList<KeyQuery> queries, bool mayBeStale)
    {
        var ops = new List<Op>(queries.Count);
        foreach (var q in queries)
        {
            var op = q.Prefix ? Op.GetPrefix(q.Key, q.KeysOnly) : Op.Get(q.Key);
            ops.Add(mayBeStale ? op with { Serializable = true } : op);
        }
        return ops;
    }

    private static List<Compare> Compares(IReadOnlyList<Expect> expectations)
    {
        var compares = new List<Compare>(expectations.Count);
        foreach (var e in expectations) compares.Add(Compare.ModRevision(e.Key, e.ModRevision));
        return compares;
    }

    private static List<Op> WriteOps(IReadOnlyList<StoreWrite> writes)
    {
        var ops = new List<Op>(writes.Count);
        foreach (var w in writes) ops.Add(w.Value is null ? Op.Delete(w.Key) : Op.Put(w.Key, w.Value));
        return ops;
    }

    private static List<IReadOnlyList<StoredValue>> Results(TxnResponse response, int expected)
    {
        var results = new List<IReadOnlyList<StoredValue>>(expected);
        foreach (var r in response.Responses)
        {
            var list = new List<StoredValue>(r.Kvs.Count);
            foreach (var kv in r.Kvs) list.Add(new StoredValue(kv.KeyString, kv.Value, kv.ModRevision));
            results.Add(list);
        }
        if (results.Count != expected) throw new Cni.Ipam.IpamException("cluster-ipam: etcd answered a read with the wrong number of results");
        return results;
    }

    private static T Unavailable<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (EtcdUnavailableException e)
        {
            throw new ClusterStoreUnavailableException($"cluster-ipam: {e.Message}", e);
        }
    }

    public void Dispose() => _client.Dispose();
}
