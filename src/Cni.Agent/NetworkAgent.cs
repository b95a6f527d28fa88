using System.Collections.Concurrent;
using Cni.Etcd;
using Cni.Linux.Route;
using Cni.Plugins.Vxlan;

namespace Cni.Agent;

/// <summary>
/// Keeps one overlay current on this host. It registers this host's VTEP under its own lease and renews it; lists the
/// VNI's registrations, reconciles (layer 2: flood entries; routed: FDB, neighbour and route entries; added for hosts that
/// are registered, the ledger's removed for hosts that are not), then watches from the listed revision and reconciles on
/// each change. A lost watch is made again on the next member from the revision after the last change seen; a compacted
/// one (etcd cancels it with the compact revision) makes it list again. A store error never touches the data plane: the last known view stays programmed, the agent
/// logs, waits (backoff 0.5 s doubling to 10 s) and starts over; a lease that expired meanwhile is replaced. Every
/// <see cref="ResyncInterval"/> the view is programmed again (the device appears with the first container; a restart
/// after kill -9 starts with a list, so it reconciles from scratch).
/// </summary>
public sealed class NetworkAgent
{
    public static readonly TimeSpan ResyncInterval = TimeSpan.FromSeconds(5);

    private readonly OverlayNetwork _network;
    private readonly VxlanOptions _o;
    private readonly VxlanClusterOptions _c;
    private readonly string _runDirectory;
    private readonly TextWriter _log;
    private readonly Registry _registry;
    private long _lease;

    public NetworkAgent(OverlayNetwork network, string runDirectory, TextWriter log)
    {
        _network = network;
        _o = network.Options;
        _c = _o.Cluster ?? throw new ArgumentException("not a cluster-mode network", nameof(network));
        _runDirectory = runDirectory;
        _log = log;
        _registry = new Registry(VtepKeys.Vteps(_c.Prefix, _o.Vni));
    }

    private string Key => VtepKeys.Vtep(_c.Prefix, _o.Vni, _c.NodeName);
    private string LedgerPath => PeerLedger.PathFor(_runDirectory, _o.Vni, _c.NodeName);

    private void Log(string message) =>
        _log.WriteLine($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {_network.Name} vni {_o.Vni}: {message}");

    public void Run(CancellationToken stop)
    {
        int backoffMs = 500;
        bool listed = false;
        // After a lost watch the agent resumes from the last revision it has seen (on whichever member answers); only a
        // compacted revision, a store error or a lapsed lease makes it list again.
        bool resume = false;
        Log($"node {_c.NodeName}, mode {(_c.Mode == OverlayMode.Routed ? "routed" : "l2")}, store {string.Join(",", _c.Etcd.Endpoints)}, prefix {_c.Prefix}, lease TTL {_c.TtlSeconds}s");
        while (!stop.IsCancellationRequested)
        {
            EtcdClient? client = null;
            EtcdWatch? watch = null;
            try
            {
                client = new EtcdClient(_c.EtcdOptions(relay: false));
                var underlay = ResolveUnderlay();
                long from;
                if (resume && listed)
                {
                    from = _registry.SeenRevision + 1;
                    Log($"watching again from revision {from}");
                }
                else
                {
                    Register(client, underlay);
                    var (revision, kvs) = client.List(VtepKeys.Vteps(_c.Prefix, _o.Vni));
                    foreach (string bad in _registry.Reset(revision, kvs)) Log($"ignoring an unreadable registration at {bad}");
                    Log($"listed {_registry.Registrations.Count()} registrations at revision {revision}");
                    listed = true;
                    Reconcile(underlay);
                    from = revision + 1;
                }
                resume = false;
                watch = client.Watch(VtepKeys.Vteps(_c.Prefix, _o.Vni), from);
                using var closeOnStop = stop.Register(watch.Dispose);
                if (watch.First.Canceled)
                {
                    Log($"watch canceled at creation{(watch.First.Compacted ? $" (compacted to {watch.First.CompactRevision})" : "")}; listing again");
                    continue;
                }
                backoffMs = 500;
                resume = Follow(client, watch, underlay, stop);
            }
            catch (Exception e) when (e is EtcdException or IOException or Cni.Spec.CniException)
            {
                if (stop.IsCancellationRequested) break;
                resume = false;
                Log($"store or host error, data plane left as it is; retrying in {backoffMs} ms: {e.Message}");
                // Keep what is known programmed (a device that appears meanwhile gets the last known hosts).
                if (listed) TryReconcile();
                stop.WaitHandle.WaitOne(backoffMs);
                backoffMs = Math.Min(backoffMs * 2, 10_000);
            }
            finally
            {
                watch?.Dispose();
                client?.Dispose();
            }
        }
        Log("stopped (the registration lapses with its lease unless the agent starts again)");
    }

    /// <summary>
    /// Reads the watch (on a thread of its own) while renewing the lease and resyncing; returns when the watch must be made
    /// again: true when it was lost (resume from the last revision seen), false when the agent must list again.
    /// </summary>
    private bool Follow(EtcdClient client, EtcdWatch watch, Underlay underlay, CancellationToken stop)
    {
        var queue = new BlockingCollection<object>();
        var reader = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    var r = watch.Next();
                    queue.Add(r);
                    if (r.Canceled) return;
                }
            }
            catch (EtcdException e) { queue.Add(e); }
        }) { IsBackground = true, Name = "watch " + _network.Name };
        reader.Start();

        long keepaliveEvery = Math.Max(1000, _c.TtlSeconds * 1000L / 3);
        long nextKeepalive = Environment.TickCount64 + keepaliveEvery;
        long nextResync = Environment.TickCount64 + (long)ResyncInterval.TotalMilliseconds;
        while (!stop.IsCancellationRequested)
        {
            long now = Environment.TickCount64;
            long wait = Math.Max(0, Math.Min(nextKeepalive, nextResync) - now);
            object? item = null;
            try { queue.TryTake(out item, (int)Math.Min(wait, int.MaxValue), stop); }
            catch (OperationCanceledException) { return false; }
            if (item is WatchResponse r)
            {
                if (r.Canceled)
                {
                    Log(r.Compacted ? $"watch canceled: revision compacted to {r.CompactRevision}; listing again" : $"watch canceled ({r.CancelReason ?? "no reason"}); listing again");
                    return false;
                }
                var changed = _registry.Apply(r);
                var own = _registry.Get(_c.NodeName);
                if (own is not null && !own.Underlay.Equals(underlay.Local))
                {
                    // Another host registered under this node name (a misconfiguration): do not fight over the key.
                    if (changed.Contains(_c.NodeName))
                        Log($"node name {_c.NodeName} is now registered by another host (underlay {own.Underlay}); not overwriting it: give each host its own nodeName");
                }
                else if (own is null || _registry.LeaseOf(_c.NodeName) != _lease)
                {
                    Log("this host's registration went or moved to another lease; writing it again under the agent's lease");
                    Register(client, underlay);
                }
                if (changed.Count > 0) Reconcile(underlay);
            }
            else if (item is EtcdException lost)
            {
                Log($"{lost.Message}; resuming from revision {_registry.SeenRevision + 1}");
                return true;
            }
            now = Environment.TickCount64;
            if (now >= nextKeepalive)
            {
                long ttl = client.LeaseKeepAliveOnce(_lease);
                if (ttl <= 0)
                {
                    Log($"lease {_lease:x} expired; registering again");
                    _lease = 0;
                    return false;
                }
                nextKeepalive = now + keepaliveEvery;
            }
            if (now >= nextResync)
            {
                // Routed mode routes the blocks a host holds: keep this host's registration current with cluster-ipam's
                // blocks (an ADD updates it when it claims one; a block released by GC or release-node shows here).
                if (_c.Mode == OverlayMode.Routed && _registry.Get(_c.NodeName) is { } self && self.Underlay.Equals(underlay.Local))
                    Register(client, underlay);
                Reconcile(underlay);
                nextResync = now + (long)ResyncInterval.TotalMilliseconds;
            }
        }
        return false;
    }

    private void Register(EtcdClient client, Underlay underlay)
    {
        if (_lease == 0)
        {
            _lease = client.LeaseGrant(_c.TtlSeconds);
            Log($"lease {_lease:x} granted ({_c.TtlSeconds}s)");
        }
        try
        {
            ClusterJoin.Register(client, _o, underlay, _log, _lease);
        }
        catch (EtcdException e) when (e.GrpcCode == 5)
        {
            // The lease is gone (expired during an outage): a new one.
            _lease = client.LeaseGrant(_c.TtlSeconds);
            Log($"lease expired; lease {_lease:x} granted");
            ClusterJoin.Register(client, _o, underlay, _log, _lease);
        }
    }

    private Underlay ResolveUnderlay()
    {
        using var host = RouteSocket.Open();
        return Underlay.Resolve(host, _o);
    }

    private void TryReconcile()
    {
        try { Reconcile(ResolveUnderlay()); }
        catch (Exception e) when (e is IOException or Cni.Spec.CniException or Cni.Linux.Netlink.NetlinkException) { Log($"reconcile failed: {e.Message}"); }
    }

    private void Reconcile(Underlay underlay)
    {
        try
        {
            using var held = NetworkLock.Acquire(_o.Vni, _runDirectory);
            using var host = RouteSocket.Open();
            var change = ClusterOverlay.ApplyRegistered(host, _o, LedgerPath, _registry.Registrations, underlay.Local, removeDeparted: true, new PrefixedLog(this));
            foreach (string a in change.Added) Log($"added {a}");
            foreach (string r in change.Removed) Log($"removed {r}");
        }
        catch (Cni.Linux.Netlink.NetlinkException e)
        {
            Log($"programming the overlay failed (retried at the next change or resync): {e.Message}");
        }
    }

    /// <summary>The overlay's notes in the agent's log format.</summary>
    private sealed class PrefixedLog(NetworkAgent agent) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void WriteLine(string? value) => agent.Log(value ?? "");
    }
}
