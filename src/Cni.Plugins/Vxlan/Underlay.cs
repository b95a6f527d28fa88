using System.Net;
using System.Net.Sockets;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The host interface that carries the overlay and the local address the VTEP sends from. Pinning the source
/// matters: when the kernel picks another source address, peers drop the packets.
/// </summary>
public sealed record Underlay(Link Device, IPAddress Local)
{
    public AddressFamily Family => Local.AddressFamily;

    /// <summary>
    /// underlayDevice and localIP as configured; a missing device is the one carrying localIP, else the default
    /// route's; a missing local address is the device's first global address of the config's family.
    /// </summary>
    public static Underlay Resolve(RouteSocket host, VxlanOptions o)
    {
        Link device;
        if (o.UnderlayDevice is { } name)
        {
            device = host.GetLink(name)
                ?? throw CniException.InvalidConfig($"unknown underlay device \"{name}\"", "no interface with that name in the host namespace");
        }
        else if (o.LocalIP is { } pinned)
        {
            var carrier = host.ListAddresses(0, pinned.AddressFamily).FirstOrDefault(a => a.Address.Equals(pinned))
                ?? throw CniException.InvalidConfig($"localIP {pinned} is not an address of this host");
            device = host.GetLink(carrier.LinkIndex)
                ?? throw new CniException(ErrorCode.TryAgainLater, $"the interface carrying localIP {pinned} disappeared");
        }
        else
        {
            var families = o.UnderlayFamily is { } f ? [f] : new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 };
            int index = 0;
            foreach (var family in families)
            {
                index = DefaultRouteDevice(host.ListRoutes(family));
                if (index > 0) break;
            }
            if (index <= 0)
                throw CniException.InvalidConfig("no default route to take the underlay device from; set underlayDevice or localIP");
            device = host.GetLink(index)
                ?? throw new CniException(ErrorCode.TryAgainLater, $"the default route's interface #{index} disappeared");
        }

        var addresses = host.ListAddresses(device.Index);
        IPAddress local;
        if (o.LocalIP is { } configured)
        {
            if (!addresses.Any(a => a.Address.Equals(configured)))
                throw CniException.InvalidConfig($"localIP {configured} is not an address of underlay device {device.Name}");
            local = configured;
        }
        else
        {
            local = SelectLocal(addresses, o.UnderlayFamily)
                ?? throw CniException.InvalidConfig(
                    $"underlay device {device.Name} has no global {(o.UnderlayFamily == AddressFamily.InterNetworkV6 ? "IPv6" : o.UnderlayFamily == AddressFamily.InterNetwork ? "IPv4" : "IP")} address to send from; set localIP");
        }
        return new Underlay(device, local);
    }

    /// <summary>The output interface of the best default route (lowest metric); 0 when there is none.</summary>
    public static int DefaultRouteDevice(IEnumerable<RouteEntry> routes) =>
        routes.Where(r => r.PrefixLength == 0 && r.OutputIndex is > 0)
              .OrderBy(r => r.Metric ?? 0)
              .Select(r => r.OutputIndex!.Value)
              .FirstOrDefault();

    /// <summary>The first global address of <paramref name="family"/> (IPv4 before IPv6 when null); null when none.</summary>
    public static IPAddress? SelectLocal(IEnumerable<LinkAddress> addresses, AddressFamily? family)
    {
        var global = addresses.Where(a => a.Scope == RouteScope.Universe && !a.Address.IsIPv6LinkLocal).ToList();
        if (family is { } f) return global.FirstOrDefault(a => a.Family == f)?.Address;
        return (global.FirstOrDefault(a => a.Family == AddressFamily.InterNetwork)
            ?? global.FirstOrDefault(a => a.Family == AddressFamily.InterNetworkV6))?.Address;
    }

    /// <summary>The flood list this host should have: the peers without its own address, or the group.</summary>
    public IReadOnlyList<IPAddress> FloodTargets(VxlanOptions o) =>
        o.Group is { } g ? [g] : o.Peers.Where(p => !p.Equals(Local)).ToList();
}
