using System.Net;
using Cni.Linux.Route;

namespace Cni.Plugins.Vxlan;

/// <summary>What one reconciliation changed.</summary>
public sealed record OverlayChange(IReadOnlyList<string> Added, IReadOnlyList<string> Removed, bool DeviceMissing)
{
    public bool Any => Added.Count > 0 || Removed.Count > 0;
}

/// <summary>
/// Programs the hosts registered in the cluster store onto this host's vxlan device. The overlay is one layer-2 segment
/// (the bridge with the vxlan device as a port, as in peers mode), so what a remote host needs is a flood entry
/// (all-zero MAC → its underlay address): ARP, broadcast and unknown unicast reach its bridge, whose containers answer.
/// Every entry added is written to the <see cref="PeerLedger"/>; only ledger entries are removed, and only when asked
/// (the agent; the plugin only adds). A flood entry also listed in the config's <c>peers</c> is never removed.
/// The caller holds the network's <see cref="NetworkLock"/>.
/// </summary>
public static class ClusterOverlay
{
    /// <summary>
    /// Programs <paramref name="registered"/> in the config's mode: flood entries (<see cref="Apply"/>, layer 2) or FDB,
    /// neighbour and route entries (<see cref="RoutedOverlay.Apply"/>, routed).
    /// </summary>
    public static OverlayChange ApplyRegistered(RouteSocket host, VxlanOptions o, string ledgerPath, IEnumerable<VtepRegistration> registered,
        IPAddress? local, bool removeDeparted, TextWriter? log)
    {
        var c = o.Cluster!;
        if (c.Mode == OverlayMode.Routed)
        {
            var notes = new List<string>();
            var desired = RoutedOverlay.Desired(registered, o.Vni, c.NodeName, local, notes);
            foreach (string note in notes) log?.WriteLine($"vxlan routed: {note}");
            return RoutedOverlay.Apply(host, o, ledgerPath, desired, removeDeparted, log);
        }
        return Apply(host, o, ledgerPath, Desired(registered, o.Vni, c.NodeName, local), removeDeparted);
    }

    /// <summary>The remote hosts of <paramref name="registered"/> this host floods to: same VNI, not this node, not this host's own underlay address.</summary>
    public static SortedDictionary<string, IPAddress> Desired(IEnumerable<VtepRegistration> registered, uint vni, string self, IPAddress? local)
    {
        var desired = new SortedDictionary<string, IPAddress>(StringComparer.Ordinal);
        foreach (var r in registered)
        {
            if (r.Vni != vni || r.Node == self) continue;
            if (local is not null && (r.Underlay.Equals(local) || r.Underlay.AddressFamily != local.AddressFamily)) continue;
            desired[r.Node] = r.Underlay;
        }
        return desired;
    }

    /// <summary>
    /// Makes the device's flood list hold every desired host, and (with <paramref name="removeDeparted"/>) drops the ledger's
    /// entries for hosts no longer desired. Nothing happens when the device is not there (no container on this host yet).
    /// </summary>
    public static OverlayChange Apply(RouteSocket host, VxlanOptions o, string ledgerPath,
        IReadOnlyDictionary<string, IPAddress> desired, bool removeDeparted)
    {
        var device = host.GetLink(o.DeviceName);
        if (device is null || device.Alias != VxlanDevice.Tag(o.Vni) || device.Kind != "vxlan")
            return new OverlayChange([], [], true);
        var ledger = PeerLedger.Load(ledgerPath, device.Index);
        var current = new HashSet<IPAddress>(FloodList.Current(host.ListFdbEntries(device.Index), device.Index));
        var wanted = new HashSet<IPAddress>(desired.Values);
        var added = new List<string>();
        var removed = new List<string>();
        bool changed = false;

        if (removeDeparted)
        {
            foreach (var (node, ip) in ledger.Peers.ToList())
            {
                if (desired.TryGetValue(node, out var now) && now.Equals(ip)) continue;
                ledger.Peers.Remove(node);
                changed = true;
                // Another registered host or the config's peers may use the same address: then the entry stays.
                if (wanted.Contains(ip) || o.Peers.Contains(ip)) continue;
                if (current.Contains(ip))
                {
                    host.DeleteFdbEntry(device.Index, FloodList.AllZero, ip);
                    current.Remove(ip);
                }
                removed.Add($"{node} {ip}");
            }
        }
        foreach (var (node, ip) in desired)
        {
            bool ours = ledger.Peers.ContainsKey(node);
            if (!current.Contains(ip))
            {
                host.AddFdbEntry(device.Index, FloodList.AllZero, ip, append: true);
                current.Add(ip);
                added.Add($"{node} {ip}");
                ours = true;
            }
            // Recorded when added here (or already tracked); an entry somebody else made (the config's peers, an admin)
            // stays theirs and is never removed by the cluster mode.
            if (ours && !o.Peers.Contains(ip) && (!ledger.Peers.TryGetValue(node, out var known) || !known.Equals(ip)))
            {
                ledger.Peers[node] = ip;
                changed = true;
            }
        }
        if (changed || !File.Exists(ledgerPath)) ledger.Save(ledgerPath);
        return new OverlayChange(added, removed, false);
    }
}
