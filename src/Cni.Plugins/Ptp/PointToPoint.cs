using System.Net;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Ptp;

/// <summary>
/// The routing of one container address on a ptp link, as the reference lays it out (pure: tested without root).
/// A veth cannot be IFF_POINTOPOINT, so the container's address keeps its prefix length but gets no subnet route:
/// instead the gateway is reached directly (<see cref="GatewayRoute"/>, scope link) and the rest of the subnet
/// through it (<see cref="SubnetRoute"/>), so every packet, also to a neighbour in the same subnet, goes through the
/// host. The host end carries the gateway as a /32 (/128) and a host route per container address points at the veth.
/// </summary>
public sealed record PointToPoint(IPPrefix Address, IPAddress Gateway)
{
    /// <summary>
    /// One entry per address of the IPAM result that belongs to the container interface; an address without a
    /// gateway, or with one of the other family, is a configuration error (the routes need it).
    /// </summary>
    public static IReadOnlyList<PointToPoint> Plan(Result result, int containerInterface)
    {
        var plan = new List<PointToPoint>();
        foreach (var ip in result.IPs ?? [])
        {
            if (ip.Interface is int i && i != containerInterface) continue;
            if (!IPPrefix.TryParse(ip.Address, out var address))
                throw new CniException(ErrorCode.InvalidNetworkConfig, $"invalid address \"{ip.Address}\" in the IPAM result");
            if (string.IsNullOrEmpty(ip.Gateway) || !IPAddress.TryParse(ip.Gateway, out var gw))
                throw CniException.InvalidConfig($"ptp needs a gateway for {ip.Address}, the IPAM result has none",
                    "give the IPAM range a gateway (host-local uses the subnet's first address by default)");
            if (gw.AddressFamily != address.Address.AddressFamily)
                throw CniException.InvalidConfig($"gateway {gw} is not of the family of {ip.Address}");
            if (gw.Equals(address.Address))
                throw CniException.InvalidConfig($"the gateway of {ip.Address} is the address itself");
            plan.Add(new PointToPoint(address, gw));
        }
        return plan;
    }

    public bool IsV4 => Address.IsV4;
    public int HostLength => Address.MaxPrefixLength;

    /// <summary>In the container: "GW/32 dev IFNAME scope link src ADDRESS".</summary>
    public RouteEntry GatewayRoute(int containerIndex) => new()
    {
        Destination = Gateway,
        PrefixLength = HostLength,
        OutputIndex = containerIndex,
        Scope = RouteScope.Link,
        PreferredSource = Address.Address,
    };

    /// <summary>In the container: "SUBNET via GW dev IFNAME src ADDRESS".</summary>
    public RouteEntry SubnetRoute(int containerIndex) => new()
    {
        Destination = Address.Network.Address,
        PrefixLength = Address.PrefixLength,
        Gateway = Gateway,
        OutputIndex = containerIndex,
        Scope = RouteScope.Universe,
        PreferredSource = Address.Address,
    };

    /// <summary>On the host: "ADDRESS/32 dev HOSTVETH scope host" (the reference's AddHostRoute).</summary>
    public RouteEntry HostRoute(int hostIndex) => new()
    {
        Destination = Address.Address,
        PrefixLength = HostLength,
        OutputIndex = hostIndex,
        Scope = RouteScope.Host,
    };
}
