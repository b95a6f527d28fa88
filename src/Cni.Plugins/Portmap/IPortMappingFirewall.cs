using System.Net;
using Cni.Firewall;
using Cni.Spec;

namespace Cni.Plugins.Portmap;

/// <summary>
/// What the portmap plugin needs from the node: the port-mapping ruleset, route_localnet and conntrack.
/// A small port so the plugin's logic is tested without root; <see cref="NodePortMappings"/> is the real one.
/// </summary>
public interface IPortMappingFirewall : IDisposable
{
    /// <summary>Publishes the attachment's mappings (replacing what it had); returns the elements now in place.</summary>
    IReadOnlyList<PortMappingElement> Add(Cni.Firewall.Attachment attachment, string network, IReadOnlyList<PortMapping> mappings,
        IPAddress? containerV4, IPAddress? containerV6, IReadOnlyList<IPPrefix> hairpinSources, PortMappingOptions options);

    /// <summary>Removes everything the attachment owns; returns the DNAT entries removed. Nothing there is success.</summary>
    IReadOnlyList<PortMappingElement> Remove(Cni.Firewall.Attachment attachment);

    /// <summary>What is missing or different (empty when all is in place).</summary>
    IReadOnlyList<string> Check(Cni.Firewall.Attachment attachment, IReadOnlyList<PortMapping> mappings, IPAddress? containerV4, IPAddress? containerV6, PortMappingOptions options);

    /// <summary>Removes the state of the network's attachments that are not valid.</summary>
    void Gc(string network, IEnumerable<Cni.Firewall.Attachment> valid);

    /// <summary>Sets route_localnet=1 on the host interface that routes to <paramref name="containerV4"/> (else <paramref name="fallbackInterface"/>), so 127.0.0.1 may be routed to it.</summary>
    void EnableRouteLocalnet(IPAddress containerV4, string? fallbackInterface);

    /// <summary>Deletes conntrack entries whose original destination is a published UDP host address and port.</summary>
    void ForgetUdpFlows(IReadOnlyList<PublishedPort> ports);
}
