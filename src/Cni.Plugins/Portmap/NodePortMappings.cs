using System.Net;
using System.Net.Sockets;
using Cni.Firewall;
using Cni.Linux;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Portmap;

/// <summary>
/// The port-mapping firewall of the node namespace the plugin runs in: <see cref="PortMappingRules"/>
/// over one nftables socket, route_localnet through /proc/sys, UDP flows through ctnetlink. Sockets are
/// opened on first use.
/// </summary>
public sealed class NodePortMappings : IPortMappingFirewall
{
    public static IPortMappingFirewall Open() => new NodePortMappings();

    // The call's nftables connection, closed when the plugin call ends, after the call's remaining work.
    private static PortMappingRules Rules => new(NftConnection.ForCall());

    public IReadOnlyList<PortMappingElement> Add(Cni.Spec.Attachment attachment, string network, IReadOnlyList<PortMapping> mappings,
        IPAddress? containerV4, IPAddress? containerV6, IReadOnlyList<IPPrefix> hairpinSources, PortMappingOptions options)
    {
        try
        {
            return Rules.Add(attachment, network, mappings, containerV4, containerV6, hairpinSources, options);
        }
        catch (LinuxException e)
        {
            throw Firewall.Failed("unable to set up nftables rules for port mappings", e);
        }
    }

    public IReadOnlyList<PortMappingElement> Remove(Cni.Spec.Attachment attachment)
    {
        try
        {
            return Rules.Remove(attachment);
        }
        catch (LinuxException e)
        {
            throw Firewall.Failed("error deleting port-mapping rules", e);
        }
    }

    public IReadOnlyList<string> Check(Cni.Spec.Attachment attachment, IReadOnlyList<PortMapping> mappings, IPAddress? containerV4, IPAddress? containerV6, PortMappingOptions options)
    {
        try
        {
            return Rules.Check(attachment, mappings, containerV4, containerV6, options);
        }
        catch (LinuxException e)
        {
            throw Firewall.Failed("unable to read port-mapping rules", e);
        }
    }

    public void Gc(string network, IEnumerable<Cni.Spec.Attachment> valid)
    {
        try
        {
            Rules.Gc(network, valid);
        }
        catch (LinuxException e)
        {
            throw Firewall.Failed("unable to collect port-mapping rules", e);
        }
    }

    public void EnableRouteLocalnet(IPAddress containerV4, string? fallbackInterface)
    {
        string? name = RoutingInterface(containerV4) ?? fallbackInterface;
        if (name is null || Names.InterfaceNameProblem(name) is not null)
        {
            throw new CniException(ErrorCode.Internal, "unable to enable route_localnet", $"no host interface routes to {containerV4}");
        }
        try
        {
            Sysctl.Write($"net/ipv4/conf/{name}/route_localnet", "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            throw new CniException(ErrorCode.Internal, $"unable to enable route_localnet on {name}: {e.Message}");
        }
    }

    /// <summary>The interface of the most specific main-table route without a gateway that covers the address.</summary>
    private static string? RoutingInterface(IPAddress address)
    {
        try
        {
            using var rt = RouteSocket.Open();
            RouteEntry? best = null;
            foreach (RouteEntry route in rt.ListRoutes(AddressFamily.InterNetwork))
            {
                if (route.OutputIndex is null || route.Gateway is not null) continue;
                if (!new IPPrefix(route.Destination, route.PrefixLength).Contains(address)) continue;
                if (best is null || route.PrefixLength > best.PrefixLength) best = route;
            }
            return best?.OutputIndex is int index ? rt.GetLink(index)?.Name : null;
        }
        catch (LinuxException)
        {
            return null;
        }
    }

    public void ForgetUdpFlows(IReadOnlyList<PublishedPort> ports)
    {
        var udp = ports.Where(p => p.Protocol == PortProtocol.Udp).Distinct().ToArray();
        if (udp.Length == 0) return;
        using var conntrack = Conntrack.Open();
        Dictionary<AddressFamily, IReadOnlyList<IPAddress>> local = [];
        foreach (PublishedPort port in udp)
        {
            IEnumerable<IPAddress> addresses = port.HostIP is { } one ? [one] : LocalAddresses(port.Family, local);
            foreach (IPAddress address in addresses)
                conntrack.DeleteByDestination(ProtocolType.Udp, address, port.HostPort);
        }
    }

    private static IReadOnlyList<IPAddress> LocalAddresses(AddressFamily family, Dictionary<AddressFamily, IReadOnlyList<IPAddress>> cache)
    {
        if (!cache.TryGetValue(family, out var list))
        {
            using var rt = RouteSocket.Open();
            list = rt.ListAddresses(0, family).Select(a => a.Address).Distinct().ToArray();
            cache[family] = list;
        }
        return list;
    }

    public void Dispose() { } // the call's connection is closed when the call ends (NftConnection.CloseDeferred)
}
