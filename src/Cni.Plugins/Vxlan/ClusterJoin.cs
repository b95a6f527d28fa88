using Cni.Etcd;
using Cni.Linux.Route;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The plugin's part of cluster mode, run by ADD after the container is attached (the device exists) and under the
/// network's lock: one read of the store (this host's registration, every registration of the VNI, the cluster-ipam blocks
/// this node holds), a write of this host's registration when it is missing or out of date, and the registered hosts
/// programmed (<see cref="ClusterOverlay.ApplyRegistered"/> in the config's mode, adding and replacing only).
/// <para>Who owns the lease: the agent. When the registration exists, the plugin writes under the lease it already has (an
/// agent's, kept alive); when there is none, it grants a lease of <c>ttlSeconds</c> that nobody renews: without an agent
/// the registration lapses after the TTL and the next ADD writes it again.</para>
/// <para>A store that cannot be reached, or refuses, never fails the ADD: the container is attached with the config's
/// peers and whatever is already programmed, and the problem is written to stderr (the agent catches up later).</para>
/// </summary>
public static class ClusterJoin
{
    /// <summary>This host's registration.</summary>
    public static VtepRegistration Self(VxlanOptions o, Underlay underlay, IReadOnlyList<string> blocks) =>
        new(o.Cluster!.NodeName, o.Vni, underlay.Local, o.VtepMac ?? VtepAddress.Derive(o.Vni, underlay.Local), o.Port, blocks);

    public static void OnAdd(RouteSocket host, VxlanOptions o, Underlay underlay, string ledgerDirectory, TextWriter log)
    {
        var c = o.Cluster!;
        try
        {
            using var client = new EtcdClient(c.EtcdOptions());
            var registered = Register(client, o, underlay, log);
            ClusterOverlay.ApplyRegistered(host, o, PeerLedger.PathFor(ledgerDirectory, o.Vni, c.NodeName), registered, underlay.Local,
                removeDeparted: false, log);
        }
        catch (Exception e) when (e is EtcdException or ArgumentException or IOException or UnauthorizedAccessException or Cni.Linux.Netlink.NetlinkException)
        {
            log.WriteLine($"vxlan: cluster store not used for this ADD (peers from the config and those already programmed stay): {e.Message}");
        }
    }

    /// <summary>
    /// Reads the VNI's registrations and this node's blocks in one transaction and writes this host's registration when it
    /// is missing or differs, under its current lease (or <paramref name="lease"/> when given, the agent's), granting one
    /// when needed. Returns every readable registration (this host's as written).
    /// </summary>
    public static List<VtepRegistration> Register(EtcdClient client, VxlanOptions o, Underlay underlay, TextWriter log, long lease = 0)
    {
        var c = o.Cluster!;
        string key = VtepKeys.Vtep(c.Prefix, o.Vni, c.NodeName);
        var read = client.Txn([], [Op.GetPrefix(VtepKeys.Vteps(c.Prefix, o.Vni)), Op.GetPrefix(VtepKeys.IpamBlocks(c.Prefix, c.NodeName), keysOnly: true)]);
        var blocks = new List<string>();
        foreach (var kv in read.Responses[1].Kvs)
            if (VtepKeys.BlockFromKey(kv.KeyString) is { } b) blocks.Add(b);
        var self = Self(o, underlay, blocks);
        byte[] value = self.Encode();

        var registered = new List<VtepRegistration>();
        KeyValue? own = null;
        foreach (var kv in read.Responses[0].Kvs)
        {
            if (kv.KeyString == key) { own = kv; continue; }
            if (VtepRegistration.Decode(kv.Value) is { } r) registered.Add(r);
            else log.WriteLine($"vxlan: ignoring an unreadable registration at {kv.KeyString}");
        }
        registered.Add(self);

        bool current = own is not null && own.Lease != 0 && own.Value.AsSpan().SequenceEqual(value) && (lease == 0 || own.Lease == lease);
        if (!current)
        {
            long use = lease != 0 ? lease : own?.Lease ?? 0;
            if (use != 0)
            {
                try
                {
                    client.Put(key, value, use);
                    return registered;
                }
                catch (EtcdException e) when (e.GrpcCode == 5 && lease == 0)
                {
                    // The old registration's lease expired between the read and the write: a new one below.
                }
            }
            client.Put(key, value, client.LeaseGrant(c.TtlSeconds));
        }
        return registered;
    }
}
