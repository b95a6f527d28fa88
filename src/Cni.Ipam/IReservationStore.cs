using System.Net;

namespace Cni.Ipam;

/// <summary>
/// One reserved address and its owner as the store holds it. <see cref="ContainerId"/> is null for a stale
/// reservation (empty or unreadable file: it has no owner); <see cref="InterfaceName"/> is null for files the
/// reference wrote before it recorded the interface (container ID only).
/// </summary>
public sealed record Reservation(IPAddress Address, string? ContainerId, string? InterfaceName)
{
    public bool IsStale => ContainerId is null;

    /// <summary>True when this reservation belongs to the attachment; a container-ID-only reservation belongs to every interface of the container.</summary>
    public bool IsOwnedBy(string containerId, string ifname) =>
        ContainerId == containerId && (InterfaceName is null || InterfaceName == ifname);
}

/// <summary>
/// Where reservations live. The allocator only ever calls it between <see cref="Lock"/> and disposing the
/// returned scope, so implementations need no locking of their own beyond that.
/// </summary>
public interface IReservationStore
{
    /// <summary>Takes the store-wide exclusive lock; throws <see cref="StoreLockTimeoutException"/> when it cannot within the timeout.</summary>
    IDisposable Lock();

    /// <summary>Claims the address for the attachment; false when it is already taken. Records it as the last reserved of the range set.</summary>
    bool TryReserve(IPAddress ip, string containerId, string ifname, int rangeSetIndex);

    /// <summary>The address last reserved in the range set, or null.</summary>
    IPAddress? LastReserved(int rangeSetIndex);

    /// <summary>Releases every address of the attachment (falling back to container-ID-only reservations, like the reference); returns them.</summary>
    IReadOnlyList<IPAddress> Release(string containerId, string ifname);

    /// <summary>Releases one address whoever holds it; false when it was not reserved.</summary>
    bool ReleaseAddress(IPAddress ip);

    /// <summary>The addresses held by the attachment (including container-ID-only reservations of the container).</summary>
    IReadOnlyList<IPAddress> GetByOwner(string containerId, string ifname);

    /// <summary>Every reservation, stale ones included.</summary>
    IReadOnlyList<Reservation> ListAll();
}
