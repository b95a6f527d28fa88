using System.Text;

namespace Cni.Etcd;

/// <summary>One key and its value as etcd stores them (mvccpb.KeyValue).</summary>
public sealed record KeyValue(byte[] Key, byte[] Value, long CreateRevision, long ModRevision, long Version, long Lease)
{
    public string KeyString => Encoding.UTF8.GetString(Key);
}

public enum CompareTarget { Version, Create, Mod, Value, Lease }
public enum CompareResult { Equal, Greater, Less, NotEqual }

/// <summary>A condition of a transaction (etcdserverpb.Compare).</summary>
public sealed record Compare(byte[] Key, CompareTarget Target, CompareResult Result, long Number = 0, byte[]? Value = null)
{
    /// <summary>True when the key does not exist (its create revision is 0).</summary>
    public static Compare Absent(string key) => new(Utf8(key), CompareTarget.Create, CompareResult.Equal, 0);
    /// <summary>True when the key was last written at <paramref name="modRevision"/> (0: the key does not exist).</summary>
    public static Compare ModRevision(string key, long modRevision) =>
        modRevision == 0 ? Absent(key) : new(Utf8(key), CompareTarget.Mod, CompareResult.Equal, modRevision);

    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

public enum OpKind { Range, Put, DeleteRange }

/// <summary>One operation of a transaction (etcdserverpb.RequestOp).</summary>
/// <remarks>A <see cref="Serializable"/> range is answered by the member from its own state, without a round through
/// the leader: cheaper, possibly stale. A transaction of serializable ranges only is itself served that way.</remarks>
public sealed record Op(OpKind Kind, byte[] Key, byte[]? RangeEnd = null, byte[]? Value = null, long Lease = 0, bool KeysOnly = false, long Limit = 0,
    bool Serializable = false)
{
    public static Op Get(string key) => new(OpKind.Range, Compare.Utf8(key));
    public static Op GetPrefix(string prefix, bool keysOnly = false) => new(OpKind.Range, Compare.Utf8(prefix), PrefixEnd(prefix), KeysOnly: keysOnly);
    public static Op Put(string key, byte[] value, long lease = 0) => new(OpKind.Put, Compare.Utf8(key), Value: value, Lease: lease);
    public static Op Delete(string key) => new(OpKind.DeleteRange, Compare.Utf8(key));
    public static Op DeletePrefix(string prefix) => new(OpKind.DeleteRange, Compare.Utf8(prefix), PrefixEnd(prefix));

    /// <summary>The range end that selects every key starting with <paramref name="prefix"/> (the prefix with its last byte incremented).</summary>
    public static byte[] PrefixEnd(string prefix)
    {
        var end = Compare.Utf8(prefix);
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return end.AsSpan(0, i + 1).ToArray();
            }
        }
        return [0]; // every key
    }
}

/// <summary>The answer to one operation of a transaction: the keys of a range, or the count a delete removed.</summary>
public sealed record OpResponse(OpKind Kind, IReadOnlyList<KeyValue> Kvs, long Deleted, bool More);

/// <summary>The answer to a transaction: whether the conditions held, the store's revision, one response per operation run.</summary>
public sealed record TxnResponse(bool Succeeded, long Revision, IReadOnlyList<OpResponse> Responses);
