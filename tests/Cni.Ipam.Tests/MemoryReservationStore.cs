using System.Net;
using Cni.Ipam;

namespace Cni.Ipam.Tests;

/// <summary>An in-memory store for allocator tests (no root, no disk).</summary>
internal sealed class MemoryReservationStore : IReservationStore
{
    public readonly Dictionary<IPAddress, (string? Id, string? IfName)> Files = new();
    public readonly Dictionary<int, IPAddress> Last = new();
    public int LockCount;
    public bool Locked;

    public IDisposable Lock()
    {
        Assert.False(Locked, "lock is not re-entrant");
        Locked = true;
        LockCount++;
        return new Scope(this);
    }

    private sealed class Scope(MemoryReservationStore s) : IDisposable
    {
        public void Dispose() => s.Locked = false;
    }

    public bool TryReserve(IPAddress ip, string containerId, string ifname, int rangeSetIndex)
    {
        Assert.True(Locked);
        if (!Files.TryAdd(ip, (containerId, ifname))) return false;
        Last[rangeSetIndex] = ip;
        return true;
    }

    public IPAddress? LastReserved(int rangeSetIndex) => Last.GetValueOrDefault(rangeSetIndex);

    public IReadOnlyList<IPAddress> Release(string containerId, string ifname)
    {
        var exact = Files.Where(f => f.Value.Id == containerId && f.Value.IfName == ifname).Select(f => f.Key).ToList();
        if (exact.Count == 0) exact = Files.Where(f => f.Value.Id == containerId && f.Value.IfName is null).Select(f => f.Key).ToList();
        foreach (var ip in exact) Files.Remove(ip);
        return exact;
    }

    public bool ReleaseAddress(IPAddress ip) => Files.Remove(ip);

    public IReadOnlyList<IPAddress> GetByOwner(string containerId, string ifname) =>
        ListAll().Where(r => r.IsOwnedBy(containerId, ifname)).Select(r => r.Address).ToList();

    public IReadOnlyList<Reservation> ListAll() =>
        Files.Select(f => new Reservation(f.Key, f.Value.Id, f.Value.IfName)).ToList();
}
