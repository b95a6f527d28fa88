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
}

/// <summary>Forwarding rules for an internal (Docker <c>--internal</c>) bridge: nothing leaves or enters it through other interfaces.</summary>
public interface IInternalNetwork
{
    /// <summary>Installs the drop rules for a bridge, once; calling it again is a no-op.</summary>
    void Ensure(string bridge);

    /// <summary>Throws a <see cref="CniException"/> when the bridge's rules are missing.</summary>
    void Check(string bridge);
}
