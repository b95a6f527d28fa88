using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>The three kinds of kernel entry routed mode keeps per remote host, in the order they are added.</summary>
public enum RoutedKind
{
    /// <summary>FDB entry on the vxlan device: the host's VTEP MAC (Key) → its underlay address (Value), permanent, unicast.</summary>
    Fdb,
    /// <summary>Neighbour entry on the vxlan device: the host's underlay address (Key) → its VTEP MAC (Value), NUD_PERMANENT.</summary>
    Neigh,
    /// <summary>Route in the main table: one of the host's blocks (Key, a CIDR) via its underlay address (Value), onlink, dev vxlan.</summary>
    Route,
}

/// <summary>One entry routed mode wants or made, with the node it is for (the ledger's record).</summary>
public readonly record struct RoutedEntry(RoutedKind Kind, string Key, string Value, string Node)
{
    public (RoutedKind, string) Id => (Kind, Key);
    public override string ToString() => Kind switch
    {
        RoutedKind.Fdb => $"fdb {Key} dst {Value} ({Node})",
        RoutedKind.Neigh => $"neigh {Key} lladdr {Value} ({Node})",
        _ => $"route {Key} via {Value} ({Node})",
    };
}

public enum RoutedStepKind { Delete, Add, Replace }

public readonly record struct RoutedStep(RoutedStepKind Kind, RoutedEntry Entry)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Entry}";
}

/// <summary>
/// What the kernel holds that routed mode compares with (read from the vxlan device and the main table):
/// FDB: VTEP MAC → the remote addresses it points at (non-zero MACs, NTF_SELF, on the device); neighbours on the device:
/// address → MAC (null when the entry is not permanent: it is replaced); routes: CIDR → (gateway, on the device?) for the
/// main table's metric-0 unicast routes.
/// </summary>
public sealed class RoutedKernelState
{
    public Dictionary<string, HashSet<string>> Fdb { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string?> Neighbours { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, (string? Gateway, bool OnDevice)> Routes { get; } = new(StringComparer.Ordinal);

    public bool Holds(RoutedEntry e) => e.Kind switch
    {
        RoutedKind.Fdb => Fdb.TryGetValue(e.Key, out var dsts) && dsts.Contains(e.Value),
        RoutedKind.Neigh => Neighbours.TryGetValue(e.Key, out var mac) && mac == e.Value,
        _ => Routes.TryGetValue(e.Key, out var r) && r.OnDevice && r.Gateway == e.Value,
    };
}

/// <summary>What one routed reconciliation does: the steps in order, the ledger afterwards, and what it had to leave alone.</summary>
public sealed record RoutedPlan(IReadOnlyList<RoutedStep> Steps, IReadOnlyList<RoutedEntry> Ledger, IReadOnlyList<string> Notes);

/// <summary>
/// Routed (layer-3) cluster mode, flannel's vxlan backend on cluster-ipam's blocks. The vxlan device is not a bridge port;
/// the bridge carries the pool's gateway (the same address on every host) and answers the containers' ARP for remote
/// addresses by proxy, so their packets are routed: for every other host H, a permanent FDB entry H.vtepMac → H.underlay,
/// a permanent neighbour entry H.underlay → H.vtepMac on the vxlan device, and per IPv4 block H holds a route
/// <c>block via H.underlay dev vxlan onlink</c> (the next hop resolves through that neighbour entry to H's VTEP MAC, the
/// FDB entry sends the frame to H's underlay address). Added in that order and removed in the reverse one.
/// <para>Entries carry no tag in the kernel: what routed mode added is recorded in the <see cref="PeerLedger"/> (before it
/// is added), and only recorded entries are ever removed or replaced; an identical entry that was there before stays
/// unrecorded (somebody else's). A route for a block on another device (an admin's) is never touched. The caller holds
/// the network's <see cref="NetworkLock"/>.</para>
/// </summary>
public static class RoutedOverlay
{
    /// <summary>
    /// The entries this host wants for <paramref name="registered"/>: hosts of the VNI other than this node and this host's
    /// underlay address, with an IPv4 underlay (the route's next hop); their IPv4 blocks, except blocks overlapping this node's
    /// own (a stale registration must never take local addresses away). Two hosts wanting the same entry: the first by node
    /// name wins; what was left out is said in <paramref name="notes"/>.
    /// </summary>
    public static SortedDictionary<(RoutedKind, string), RoutedEntry> Desired(IEnumerable<VtepRegistration> registered, uint vni, string self,
        IPAddress? local, List<string>? notes = null)
    {
        var desired = new SortedDictionary<(RoutedKind, string), RoutedEntry>(IdOrder);
        var all = registered.Where(r => r.Vni == vni).OrderBy(r => r.Node, StringComparer.Ordinal).ToList();
        var own = new List<IPPrefix>();
        foreach (var r in all)
            if (r.Node == self) own.AddRange(Blocks(r));

        foreach (var r in all)
        {
            if (r.Node == self || (local is not null && r.Underlay.Equals(local))) continue;
            if (r.Underlay.AddressFamily != AddressFamily.InterNetwork)
            {
                notes?.Add($"{r.Node}: underlay {r.Underlay} is not IPv4; routed mode needs an IPv4 underlay (the routes' next hop)");
                continue;
            }
            string underlay = r.Underlay.ToString();
            string mac = r.VtepMac.ToString();
            Want(desired, new RoutedEntry(RoutedKind.Fdb, mac, underlay, r.Node), notes);
            Want(desired, new RoutedEntry(RoutedKind.Neigh, underlay, mac, r.Node), notes);
            foreach (var block in Blocks(r))
            {
                if (own.Any(o => o.Overlaps(block)))
                {
                    notes?.Add($"{r.Node}: block {block} overlaps a block of this node; not routed");
                    continue;
                }
                Want(desired, new RoutedEntry(RoutedKind.Route, block.ToString(), underlay, r.Node), notes);
            }
        }
        return desired;
    }

    private static void Want(SortedDictionary<(RoutedKind, string), RoutedEntry> desired, RoutedEntry e, List<string>? notes)
    {
        if (desired.TryGetValue(e.Id, out var first))
        {
            if (first.Value != e.Value) notes?.Add($"{e.Node} wants {e}, but {first.Node} has it: {first}");
            return;
        }
        desired[e.Id] = e;
    }

    /// <summary>The IPv4 blocks of a registration, as networks; unreadable ones and IPv6 ones are skipped.</summary>
    public static IEnumerable<IPPrefix> Blocks(VtepRegistration r)
    {
        foreach (string b in r.Blocks)
            if (IPPrefix.TryParse(b, out var p) && p.IsV4) yield return p.Network;
    }

    /// <summary>
    /// What to do so that the kernel holds <paramref name="desired"/>, given what the ledger says was added before and what
    /// the kernel holds now. Pure. A ledger entry no longer desired is deleted (when the kernel still holds exactly it) only
    /// with <paramref name="removeDeparted"/> (the agent; the plugin's ADD only adds and replaces); one desired with another
    /// value is replaced. A desired entry the kernel lacks is added; one the kernel holds with another value is replaced
    /// (for a route, only when that route is on the vxlan device). Steps: deletes (routes, neighbours, FDB), then adds and
    /// replaces (FDB, neighbours, routes).
    /// </summary>
    public static RoutedPlan Plan(IReadOnlyDictionary<(RoutedKind, string), RoutedEntry> desired, IEnumerable<RoutedEntry> ledger,
        RoutedKernelState kernel, bool removeDeparted)
    {
        var steps = new List<RoutedStep>();
        var after = new SortedDictionary<(RoutedKind, string), RoutedEntry>(IdOrder);
        var notes = new List<string>();

        foreach (var e in ledger)
        {
            bool wanted = desired.TryGetValue(e.Id, out var d);
            if (wanted && d.Value == e.Value)
            {
                after[e.Id] = d;
                continue;
            }
            if (wanted)
            {
                // Replaced below (the same key with another value): for FDB the MAC moved to another underlay address.
                if (e.Kind == RoutedKind.Fdb && removeDeparted && kernel.Holds(e)) steps.Add(new RoutedStep(RoutedStepKind.Delete, e));
                continue;
            }
            if (!removeDeparted)
            {
                after[e.Id] = e;
                continue;
            }
            if (kernel.Holds(e)) steps.Add(new RoutedStep(RoutedStepKind.Delete, e));
        }

        foreach (var d in desired.Values)
        {
            switch (d.Kind)
            {
                case RoutedKind.Fdb:
                    if (!kernel.Fdb.TryGetValue(d.Key, out var dsts) || dsts.Count == 0) Record(RoutedStepKind.Add, d);
                    else if (!dsts.Contains(d.Value)) Record(RoutedStepKind.Replace, d);
                    break;
                case RoutedKind.Neigh:
                    if (!kernel.Neighbours.TryGetValue(d.Key, out var mac)) Record(RoutedStepKind.Add, d);
                    else if (mac != d.Value) Record(RoutedStepKind.Replace, d);
                    break;
                case RoutedKind.Route:
                    if (!kernel.Routes.TryGetValue(d.Key, out var route)) Record(RoutedStepKind.Add, d);
                    else if (!route.OnDevice) notes.Add($"{d} not added: the main table has a route for {d.Key} on another device");
                    else if (route.Gateway != d.Value) Record(RoutedStepKind.Replace, d);
                    break;
            }
        }

        return new RoutedPlan(steps.OrderBy(Order).ToList(), after.Values.ToList(), notes); // stable: desired order within a kind

        void Record(RoutedStepKind kind, RoutedEntry d)
        {
            steps.Add(new RoutedStep(kind, d));
            after[d.Id] = d;
        }
    }

    /// <summary>Entries by kind, then key (ordinal).</summary>
    public static readonly IComparer<(RoutedKind Kind, string Key)> IdOrder = Comparer<(RoutedKind Kind, string Key)>.Create((a, b) =>
        a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : string.CompareOrdinal(a.Key, b.Key));

    private static int Order(RoutedStep s) => s.Kind == RoutedStepKind.Delete
        ? 2 - (int)s.Entry.Kind          // routes (0), neighbours (1), FDB (2)
        : 3 + (int)s.Entry.Kind;         // FDB (3), neighbours (4), routes (5)

    /// <summary>Reads what <see cref="Plan"/> compares with from the kernel (device <paramref name="index"/>).</summary>
    public static RoutedKernelState Read(RouteSocket host, int index)
    {
        var state = new RoutedKernelState();
        foreach (var n in host.ListFdbEntries(index))
        {
            if (n.LinkIndex != index || !n.IsSelf || n.Address is null || n.HardwareAddress is not { } hw) continue;
            var bytes = hw.GetAddressBytes();
            if (bytes.Length != 6 || bytes.All(b => b == 0)) continue;
            string mac = HardwareAddress.FromBytes(bytes).ToString();
            if (!state.Fdb.TryGetValue(mac, out var set)) state.Fdb[mac] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(n.Address.ToString());
        }
        foreach (var n in host.ListNeighbours(index, AddressFamily.InterNetwork))
        {
            if (n.LinkIndex != index || n.Address is null) continue;
            state.Neighbours[n.Address.ToString()] = n.IsPermanent && n.HardwareAddress is { } hw && hw.GetAddressBytes().Length == 6
                ? HardwareAddress.FromBytes(hw.GetAddressBytes()).ToString() : null;
        }
        foreach (var r in host.ListRoutes(AddressFamily.InterNetwork))
        {
            if (r.Type != RouteSocket.RTN_UNICAST || (r.Metric ?? 0) != 0) continue;
            state.Routes[$"{r.Destination}/{r.PrefixLength}"] = (r.Gateway?.ToString(), r.OutputIndex == index);
        }
        return state;
    }

    /// <summary>
    /// Makes the device hold the desired entries (see <see cref="Plan"/>), recording in the ledger what it adds before adding
    /// it. A step the kernel refuses is reported and the rest goes on (retried at the next reconciliation). Nothing happens
    /// when the device is not there (no container on this host yet).
    /// </summary>
    public static OverlayChange Apply(RouteSocket host, VxlanOptions o, string ledgerPath,
        IReadOnlyDictionary<(RoutedKind, string), RoutedEntry> desired, bool removeDeparted, TextWriter? log = null)
    {
        var device = host.GetLink(o.DeviceName);
        if (device is null || device.Alias != VxlanDevice.Tag(o.Vni) || device.Kind != "vxlan")
            return new OverlayChange([], [], true);
        var ledger = PeerLedger.Load(ledgerPath, device.Index);
        var plan = Plan(desired, ledger.Routed, Read(host, device.Index), removeDeparted);
        foreach (string note in plan.Notes) log?.WriteLine($"vxlan routed: {note}");
        if (plan.Steps.Count == 0)
        {
            if (!ledger.Routed.SequenceEqual(plan.Ledger) || !File.Exists(ledgerPath))
            {
                ledger.Routed = [.. plan.Ledger];
                ledger.Save(ledgerPath);
            }
            return new OverlayChange([], [], false);
        }

        // Recorded first (what is about to be added, and what is about to go): a crash in between never leaves an
        // entry of ours unrecorded.
        ledger.Routed = [.. plan.Ledger.Concat(plan.Steps.Where(s => s.Kind == RoutedStepKind.Delete).Select(s => s.Entry))];
        ledger.Save(ledgerPath);

        var added = new List<string>();
        var removed = new List<string>();
        var failed = new HashSet<(RoutedKind, string)>();
        foreach (var step in plan.Steps)
        {
            try
            {
                Execute(host, device.Index, step);
                if (step.Kind == RoutedStepKind.Delete) removed.Add(step.Entry.ToString());
                else added.Add(step.Kind == RoutedStepKind.Replace ? $"{step.Entry}, replacing another value" : step.Entry.ToString());
            }
            catch (NetlinkException e)
            {
                log?.WriteLine($"vxlan routed: {step} failed: {e.Message}");
                if (step.Kind != RoutedStepKind.Delete) failed.Add(step.Entry.Id);
            }
        }
        // What failed to be added is not ours (it may be somebody else's by now); the next pass adds it again.
        ledger.Routed = [.. plan.Ledger.Where(e => !failed.Contains(e.Id))];
        ledger.Save(ledgerPath);
        return new OverlayChange(added, removed, false);
    }

    private static void Execute(RouteSocket host, int index, RoutedStep step)
    {
        var e = step.Entry;
        switch (e.Kind)
        {
            case RoutedKind.Fdb:
                var mac = new PhysicalAddress(HardwareAddress.TryParse(e.Key, out var hw) ? hw.ToBytes() : throw new FormatException(e.Key));
                if (step.Kind == RoutedStepKind.Delete) host.DeleteFdbEntry(index, mac, IPAddress.Parse(e.Value));
                else host.AddFdbEntry(index, mac, IPAddress.Parse(e.Value), append: false);
                break;
            case RoutedKind.Neigh:
                if (step.Kind == RoutedStepKind.Delete) host.DeleteNeighbour(index, IPAddress.Parse(e.Key));
                else host.SetNeighbour(index, IPAddress.Parse(e.Key),
                    new PhysicalAddress(HardwareAddress.TryParse(e.Value, out var lladdr) ? lladdr.ToBytes() : throw new FormatException(e.Value)));
                break;
            case RoutedKind.Route:
                var prefix = IPPrefix.Parse(e.Key);
                var route = new RouteEntry
                {
                    Destination = prefix.Address,
                    PrefixLength = prefix.PrefixLength,
                    Gateway = IPAddress.Parse(e.Value),
                    OutputIndex = index,
                    OnLink = true,
                };
                if (step.Kind == RoutedStepKind.Delete) host.DeleteRoute(route);
                else host.ReplaceRoute(route);
                break;
        }
    }
}
