using Cni.Etcd;
using Cni.Plugins.Vxlan;

namespace Cni.Agent;

/// <summary>
/// The agent's view of one VNI's registrations: filled by a list, kept current by watch events. Pure; the hosts it
/// yields are what the overlay should reach (<see cref="ClusterOverlay.Desired"/>).
/// </summary>
public sealed class Registry
{
    private readonly string _prefix;
    private readonly Dictionary<string, (VtepRegistration Registration, long Lease)> _nodes = new(StringComparer.Ordinal);

    public Registry(string vtepsPrefix) => _prefix = vtepsPrefix;

    /// <summary>The revision the view is current at (the list's, then each event's).</summary>
    public long Revision { get; private set; }

    /// <summary>
    /// The last revision whose changes are all in the view: the list's, then each event's. A watch that broke resumes from
    /// the one after it (a watch message's header revision is not used: the message that creates a watch carries the
    /// store's current revision before the older events are sent).
    /// </summary>
    public long SeenRevision { get; private set; }

    public IEnumerable<VtepRegistration> Registrations => _nodes.Values.Select(n => n.Registration);

    public VtepRegistration? Get(string node) => _nodes.TryGetValue(node, out var n) ? n.Registration : null;
    public long LeaseOf(string node) => _nodes.TryGetValue(node, out var n) ? n.Lease : 0;

    /// <summary>Replaces the view with a list's answer. Returns the keys that were unreadable (ignored).</summary>
    public IReadOnlyList<string> Reset(long revision, IEnumerable<KeyValue> kvs)
    {
        _nodes.Clear();
        var unreadable = new List<string>();
        foreach (var kv in kvs)
            if (!Put(kv)) unreadable.Add(kv.KeyString);
        Revision = revision;
        SeenRevision = revision;
        return unreadable;
    }

    /// <summary>Applies one watch message's events. Returns the nodes whose registration changed (appeared, went, moved, or
    /// changed its VTEP MAC, port or blocks: what routed mode programs).</summary>
    public IReadOnlyList<string> Apply(WatchResponse response)
    {
        var changed = new List<string>();
        foreach (var e in response.Events)
        {
            string? node = NodeOf(e.Kv.KeyString);
            if (node is null) continue;
            var before = Get(node);
            if (e.Type == WatchEventType.Delete) _nodes.Remove(node);
            else if (!Put(e.Kv)) _nodes.Remove(node); // an unreadable registration is as good as none
            var after = Get(node);
            if (!Same(before, after)) changed.Add(node);
            if (e.Kv.ModRevision > Revision) Revision = e.Kv.ModRevision;
            if (e.Kv.ModRevision > SeenRevision) SeenRevision = e.Kv.ModRevision;
        }
        if (response.Revision > Revision) Revision = response.Revision;
        return changed;
    }

    public static bool Same(VtepRegistration? a, VtepRegistration? b) =>
        a is null ? b is null
        : b is not null && a.Node == b.Node && a.Vni == b.Vni && a.Underlay.Equals(b.Underlay) && a.VtepMac == b.VtepMac && a.Port == b.Port
          && a.Blocks.SequenceEqual(b.Blocks, StringComparer.Ordinal);

    private bool Put(KeyValue kv)
    {
        string? node = NodeOf(kv.KeyString);
        if (node is null || VtepRegistration.Decode(kv.Value) is not { } r || r.Node != node) return false;
        _nodes[node] = (r, kv.Lease);
        return true;
    }

    private string? NodeOf(string key) =>
        key.StartsWith(_prefix, StringComparison.Ordinal) && key.Length > _prefix.Length && !key.AsSpan(_prefix.Length).Contains('/')
            ? key[_prefix.Length..] : null;
}
