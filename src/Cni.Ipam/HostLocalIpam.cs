using System.Net;
using Cni.Ipam.Disk;

namespace Cni.Ipam;

/// <summary>Who asks: the attachment (container ID + interface name) an address is for.</summary>
public sealed record IpamRequest(string ContainerId, string InterfaceName);

/// <summary>An attachment that is still valid (the GC input).</summary>
public readonly record struct Attachment(string ContainerId, string InterfaceName);

/// <summary>One address handed out: the address with its subnet's prefix length, the range's gateway.</summary>
public sealed record AllocatedAddress(AddressPrefix Address, IPAddress Gateway, int RangeSetIndex)
{
    public bool IsV6 => Address.IsV6;
}

/// <summary>What ADD hands back: one address per range set, in range set order, plus routes and DNS.</summary>
public sealed record IpamAllocation(IReadOnlyList<AllocatedAddress> Addresses, IReadOnlyList<IpamRoute> Routes, DnsSettings? Dns);

/// <summary>
/// host-local IPAM: the reference's allocation rules over an <see cref="IReservationStore"/>. Every operation
/// takes the store lock once for its whole duration.
/// </summary>
public sealed class HostLocalIpam
{
    private readonly IpamConfig _config;
    private readonly IReservationStore _store;

    public HostLocalIpam(IpamConfig config, IReservationStore store)
    {
        _config = config;
        _store = store;
    }

    /// <summary>host-local over the reference's on-disk store (<c>dataDir/name</c>).</summary>
    public static HostLocalIpam OnDisk(IpamConfig config) =>
        new(config, new DiskReservationStore(config.DataDir, config.Name, config.LockTimeout));

    public IpamConfig Config => _config;

    /// <summary>
    /// Hands out one address per range set. A repeated ADD for the same attachment returns the addresses it
    /// already holds. On failure nothing reserved by this call stays reserved.
    /// </summary>
    public IpamAllocation Add(IpamRequest request)
    {
        ValidateRequest(request);
        var dns = _config.ResolvConf is null ? null : DnsSettings.LoadResolvConf(_config.ResolvConf);

        using var _ = _store.Lock();
        var held = _store.GetByOwner(request.ContainerId, request.InterfaceName);
        var pending = new List<IPAddress>(_config.RequestedAddresses);
        var result = new List<AllocatedAddress>();
        var reservedNow = new List<IPAddress>();
        try
        {
            for (int idx = 0; idx < _config.RangeSets.Count; idx++)
            {
                var set = _config.RangeSets[idx];
                IPAddress? requested = null;
                for (int k = 0; k < pending.Count; k++)
                {
                    if (!set.Contains(pending[k])) continue;
                    requested = pending[k];
                    pending.RemoveAt(k);
                    break;
                }

                var existing = held.FirstOrDefault(set.Contains);
                if (existing is not null)
                {
                    if (requested is not null && !requested.Equals(existing))
                        throw new AddressUnavailableException(
                            $"{IPAddressMath.Format(existing)} has been allocated to {request.ContainerId}/{request.InterfaceName}; cannot also allocate requested {IPAddressMath.Format(requested)}");
                    result.Add(Describe(set.RangeFor(existing)!, existing, idx));
                    continue;
                }

                var allocated = requested is not null
                    ? ReserveRequested(set, idx, requested, request)
                    : ReserveNext(set, idx, request);
                reservedNow.Add(allocated.Address.Address);
                result.Add(allocated);
            }

            if (pending.Count > 0)
            {
                var notInRange = pending.Where(p => !_config.RangeSets.Any(s => s.Contains(p))).ToList();
                if (notInRange.Count > 0)
                    throw new AddressUnavailableException(
                        $"requested IP address {string.Join(", ", notInRange.Select(IPAddressMath.Format))} is not in any range set ({string.Join("; ", _config.RangeSets)})");
                throw new AddressUnavailableException(
                    "failed to allocate all requested IPs: " + string.Join(" ", pending.Select(IPAddressMath.Format)) +
                    " (each requested address must fall in a different range set)");
            }
        }
        catch
        {
            foreach (var ip in reservedNow) _store.ReleaseAddress(ip);
            throw;
        }
        return new IpamAllocation(result, _config.Routes, dns);
    }

    private AllocatedAddress ReserveRequested(RangeSet set, int idx, IPAddress ip, IpamRequest request)
    {
        var range = set.RangeFor(ip)
            ?? throw new AddressUnavailableException($"requested IP address {IPAddressMath.Format(ip)} is not in range set {set}");
        if (range.WhyUnusable(IPAddressMath.ToNumber(ip)) is string why)
            throw new AddressUnavailableException($"requested ip {IPAddressMath.Format(ip)} {why}");
        if (!_store.TryReserve(ip, request.ContainerId, request.InterfaceName, idx))
            throw new AddressUnavailableException($"requested IP address {IPAddressMath.Format(ip)} is not available in range set {set}");
        return Describe(range, ip, idx);
    }

    private AllocatedAddress ReserveNext(RangeSet set, int idx, IpamRequest request)
    {
        foreach (var c in RangeIterator.Candidates(set, _store.LastReserved(idx)))
            if (_store.TryReserve(c.Address, request.ContainerId, request.InterfaceName, idx))
                return Describe(c.Range, c.Address, idx);
        throw new AddressUnavailableException($"no IP addresses available in range set {idx}: {set}");
    }

    private static AllocatedAddress Describe(AddressRange range, IPAddress ip, int idx) =>
        new(new AddressPrefix(ip, range.Subnet.PrefixLength), range.Gateway, idx);

    /// <summary>Releases what the attachment holds; succeeds when it holds nothing.</summary>
    public IReadOnlyList<IPAddress> Del(IpamRequest request)
    {
        ValidateRequest(request);
        using var _ = _store.Lock();
        return _store.Release(request.ContainerId, request.InterfaceName);
    }

    /// <summary>The addresses the attachment holds (empty when none): CHECK fails on empty.</summary>
    public IReadOnlyList<IPAddress> Check(IpamRequest request)
    {
        ValidateRequest(request);
        using var _ = _store.Lock();
        return _store.GetByOwner(request.ContainerId, request.InterfaceName);
    }

    /// <summary>
    /// Releases every reservation of the network that belongs to none of the valid attachments, and every stale
    /// (ownerless) reservation. Returns the released reservations.
    /// </summary>
    public IReadOnlyList<Reservation> Gc(IEnumerable<Attachment> validAttachments)
    {
        var valid = new HashSet<Attachment>(validAttachments);
        var validIds = new HashSet<string>(valid.Select(a => a.ContainerId), StringComparer.Ordinal);
        var released = new List<Reservation>();
        using var _ = _store.Lock();
        foreach (var r in _store.ListAll())
        {
            bool keep = r.ContainerId is not null &&
                        (r.InterfaceName is null ? validIds.Contains(r.ContainerId) : valid.Contains(new Attachment(r.ContainerId, r.InterfaceName)));
            if (!keep && _store.ReleaseAddress(r.Address)) released.Add(r);
        }
        return released;
    }

    /// <summary>Throws <see cref="StoreIOException"/> when the store cannot be created or written.</summary>
    public void Status()
    {
        if (_store is DiskReservationStore disk) disk.ProbeWritable();
    }

    private static void ValidateRequest(IpamRequest request)
    {
        StoreNames.ValidateContainerId(request.ContainerId);
        StoreNames.ValidateInterfaceName(request.InterfaceName);
    }
}
