using System.Net;
using System.Net.NetworkInformation;
using Cni.Linux.Route;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The vxlan device's flood list: one all-zero-MAC FDB entry per remote VTEP (head-end replication, as
/// `bridge fdb append 00:00:00:00:00:00 dev vxlanN dst PEER`). Only those entries are ours; learned or
/// static unicast entries are left alone.
/// </summary>
public static class FloodList
{
    public static readonly PhysicalAddress AllZero = new(new byte[6]);

    /// <summary>The remote addresses currently in the flood list of device <paramref name="index"/>.</summary>
    public static IReadOnlyList<IPAddress> Current(IEnumerable<Neighbour> fdb, int index) =>
        fdb.Where(n => n.LinkIndex == index && n.IsSelf && n.Address is not null && IsAllZero(n.HardwareAddress))
           .Select(n => n.Address!)
           .Distinct()
           .ToList();

    /// <summary>What to add and what to remove so the flood list is exactly <paramref name="desired"/>.</summary>
    public static (IReadOnlyList<IPAddress> Add, IReadOnlyList<IPAddress> Remove) Plan(
        IReadOnlyList<IPAddress> current, IReadOnlyList<IPAddress> desired)
    {
        var add = desired.Where(d => !current.Contains(d)).Distinct().ToList();
        var remove = current.Where(c => !desired.Contains(c)).Distinct().ToList();
        return (add, remove);
    }

    /// <summary>Makes the flood list of device <paramref name="index"/> exactly <paramref name="desired"/>.</summary>
    public static void Reconcile(RouteSocket host, int index, IReadOnlyList<IPAddress> desired)
    {
        var (add, remove) = Plan(Current(host.ListFdbEntries(index), index), desired);
        foreach (var peer in remove)
            host.DeleteFdbEntry(index, AllZero, peer);
        foreach (var peer in add)
            host.AddFdbEntry(index, AllZero, peer, append: true);
    }

    /// <summary>Adds the entries of <paramref name="desired"/> the device lacks; removes nothing.</summary>
    public static void AddMissing(RouteSocket host, int index, IReadOnlyList<IPAddress> desired)
    {
        var (add, _) = Plan(Current(host.ListFdbEntries(index), index), desired);
        foreach (var peer in add)
            host.AddFdbEntry(index, AllZero, peer, append: true);
    }

    private static bool IsAllZero(PhysicalAddress? mac)
    {
        if (mac is null) return false;
        var bytes = mac.GetAddressBytes();
        return bytes.Length == 6 && bytes.All(b => b == 0);
    }
}
