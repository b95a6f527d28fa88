using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// What a plugin needs from the firewall for masquerade, as a small port so the plugin logic does not depend
/// on how rules are written. Rules are tagged with the attachment (container ID + interface), so
/// <see cref="Remove"/> needs neither the container's namespace nor its addresses.
/// </summary>
public interface IMasquerade
{
    /// <summary>Masquerades traffic from each address to destinations outside its subnet (multicast excluded).</summary>
    void Add(Attachment tag, string network, IReadOnlyList<IPPrefix> addresses);

    /// <summary>Removes everything tagged for the attachment; nothing there is not an error.</summary>
    void Remove(Attachment tag);

    /// <summary>Throws a <see cref="CniException"/> when the attachment's rules are missing or differ.</summary>
    void Check(Attachment tag, IReadOnlyList<IPPrefix> addresses);

    /// <summary>Removes the masquerade state of the network's attachments that are not in <paramref name="valid"/> (CNI GC).</summary>
    void Gc(string network, IReadOnlyCollection<Attachment> valid);
}

/// <summary>Forwarding rules for an internal (Docker <c>--internal</c>) bridge: nothing leaves or enters it through other interfaces.</summary>
public interface IInternalNetwork
{
    /// <summary>Installs the drop rules for a bridge, once; calling it again is a no-op.</summary>
    void Ensure(string bridge);

    /// <summary>Throws a <see cref="CniException"/> when the bridge's rules are missing.</summary>
    void Check(string bridge);
}

/// <summary>
/// The bridge's <c>macspoofchk</c>: frames entering the bridge from an attachment's host veth must carry the
/// container interface's MAC as source, others are dropped. Tagged with the attachment, so
/// <see cref="Remove"/> needs neither the container's namespace nor the MAC.
/// </summary>
public interface IMacSpoofCheck
{
    /// <summary>Guards bridge port <paramref name="hostInterface"/>: only <paramref name="mac"/> may send from it.</summary>
    void Add(Attachment tag, string network, string hostInterface, HardwareAddress mac);

    /// <summary>Removes the attachment's guard; nothing there is not an error.</summary>
    void Remove(Attachment tag);

    /// <summary>Throws a <see cref="CniException"/> when the guard is missing or differs.</summary>
    void Check(Attachment tag, string hostInterface, HardwareAddress mac);

    /// <summary>Removes the guards of <paramref name="network"/>'s attachments that are not in <paramref name="valid"/>.</summary>
    void Gc(string network, IReadOnlyCollection<Attachment> valid);
}
