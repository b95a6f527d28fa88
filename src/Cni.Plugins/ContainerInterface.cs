using System.Net;
using System.Net.Sockets;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// The container side of an attachment, shared by bridge, macvlan and vxlan: sysctls, addresses and routes
/// from the IPAM result, and their verification for CHECK. Netlink work goes through a socket opened in
/// the container's namespace and used from the calling thread; only the /proc/sys writes enter the
/// namespace (once, on the calling thread, which then returns to its own).
/// </summary>
public static class ContainerInterface
{
    /// <summary>
    /// Per-interface settings inside the container, before any address is added: gratuitous ARP on when the
    /// link comes up (arp_notify, through netlink); for an interface that gets an IPv6 address also IPv6
    /// enabled, DAD off unless <paramref name="enableDad"/> (it costs about 2 s per pod) and unsolicited NA on.
    /// An interface without IPv6 addresses keeps the kernel's IPv6 defaults (the reference also turns
    /// accept_dad off there; then only its link-local address gets DAD, which nothing waits for): each
    /// /proc/sys/net/ipv6/conf/eth0 lookup walks a dentry chain as long as the number of containers (see
    /// <see cref="RouteSocket.SetIPv4DeviceConfig"/>). Best effort, as the reference: a kernel without IPv6
    /// has no such keys.
    /// </summary>
    public static void WriteSysctls(NetNs ns, RouteSocket container, int linkIndex, string ifName, bool enableDad, bool hasIPv6)
    {
        try
        {
            container.SetIPv4DeviceConfig(linkIndex, RouteSocket.IPV4_DEVCONF_ARP_NOTIFY, 1);
        }
        catch (NetlinkException)
        {
            // best effort, like the sysctl writes below
        }
        if (!hasIPv6) return;
        ns.Run(() =>
        {
            TryWrite($"net/ipv6/conf/{ifName}/disable_ipv6", "0");
            if (enableDad)
            {
                TryWrite($"net/ipv6/conf/{ifName}/enhanced_dad", "1");
                TryWrite($"net/ipv6/conf/{ifName}/accept_dad", "1");
            }
            else
            {
                TryWrite($"net/ipv6/conf/{ifName}/accept_dad", "0");
            }
            TryWrite($"net/ipv6/conf/{ifName}/ndisc_notify", "1");
        });
    }

    /// <summary>
    /// Adds the result's addresses that belong to <paramref name="resultInterface"/> (IPv6 with IFA_F_NODAD
    /// unless <paramref name="enableDad"/>) while the link is still down, brings it up, then adds the
    /// result's routes through it; a route without a gateway uses the family's first gateway, as the
    /// reference does. The order matters: with arp_notify/ndisc_notify on (<see cref="WriteSysctls"/>) the
    /// kernel announces every address present when the link comes up (gratuitous ARP, unsolicited NA), so
    /// neighbours learn the new MAC at once; addresses added after the link is up are not announced. Routes
    /// come last because a route through a down link is refused.
    /// Nothing here needs an undo: deleting the interface removes all of it.
    /// </summary>
    public static void Configure(RouteSocket container, int linkIndex, string ifName, Result result, int resultInterface, bool enableDad)
    {
        IPAddress? v4Gateway = null, v6Gateway = null;
        foreach (var ipc in result.IPs ?? [])
        {
            if (ipc.Interface is int i && i != resultInterface) continue;
            var prefix = ipc.Prefix;
            try
            {
                if (prefix.IsV4)
                    container.AddAddress(linkIndex, prefix.Address, prefix.PrefixLength, RouteSocket.BroadcastOf(prefix.Address, prefix.PrefixLength));
                else
                    container.AddAddress(linkIndex, prefix.Address, prefix.PrefixLength, noDad: !enableDad);
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to add IP addr {prefix} to {ifName}: {e.Message}");
            }
            if (!string.IsNullOrEmpty(ipc.Gateway) && IPAddress.TryParse(ipc.Gateway, out var gw))
            {
                if (gw.AddressFamily == AddressFamily.InterNetwork) v4Gateway ??= gw;
                else v6Gateway ??= gw;
            }
        }

        try
        {
            container.SetLinkUp(linkIndex);
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to set {ifName} up: {e.Message}");
        }

        foreach (var route in result.Routes ?? [])
        {
            var entry = ToEntry(route, linkIndex, v4Gateway, v6Gateway);
            try
            {
                container.AddRoute(entry);
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to add route '{route.Dst} via {entry.Gateway?.ToString() ?? "(none)"} dev {ifName}': {e.Message}");
            }
        }
    }

    /// <summary>The kernel route for a CNI route through <paramref name="linkIndex"/>.</summary>
    public static RouteEntry ToEntry(Route route, int linkIndex, IPAddress? v4Gateway, IPAddress? v6Gateway)
    {
        if (!IPPrefix.TryParse(route.Dst, out var dst))
            throw new CniException(ErrorCode.InvalidNetworkConfig, $"invalid route destination \"{route.Dst}\"");
        IPAddress? gw = null;
        if (!string.IsNullOrEmpty(route.Gw))
        {
            if (!IPAddress.TryParse(route.Gw, out gw) || gw.AddressFamily != dst.Address.AddressFamily)
                throw new CniException(ErrorCode.InvalidNetworkConfig, $"invalid gateway \"{route.Gw}\" for route {route.Dst}");
        }
        gw ??= dst.IsV4 ? v4Gateway : v6Gateway;
        return new RouteEntry
        {
            Destination = dst.Network.Address,
            PrefixLength = dst.PrefixLength,
            Gateway = gw,
            OutputIndex = linkIndex,
            Metric = route.Priority is int p ? (uint)p : null,
            Mtu = Positive(route.Mtu, "mtu", route.Dst),
            AdvertisedMss = Positive(route.AdvMss, "advmss", route.Dst),
            Table = route.Table is int t ? (uint)t : RouteSocket.RT_TABLE_MAIN,
            Scope = route.Scope is int s ? (RouteScope)s : null,
        };
    }

    /// <summary>A route metric from the result: absent or 0 is "not set" (as the reference), negative is invalid.</summary>
    private static uint? Positive(int? value, string field, string dst) => value switch
    {
        null or 0 => null,
        > 0 => (uint)value.Value,
        _ => throw new CniException(ErrorCode.InvalidNetworkConfig, $"invalid {field} {value} for route {dst}"),
    };

    /// <summary>
    /// CHECK: every address of the result that belongs to the interface is on the link, and every route of
    /// the result is in the container's table. Throws a <see cref="CniException"/> naming what is missing.
    /// </summary>
    public static void Verify(RouteSocket container, int linkIndex, string ifName, Result result, int resultInterface)
    {
        var present = container.ListAddresses(linkIndex);
        foreach (var ipc in result.IPs ?? [])
        {
            if (ipc.Interface is int i && i != resultInterface) continue;
            var prefix = ipc.Prefix;
            if (!present.Any(a => a.Address.Equals(prefix.Address) && a.PrefixLength == prefix.PrefixLength))
                throw new CniException(ErrorCode.FirstPluginCode, $"Failed to match addr {prefix} on interface {ifName}");
        }

        IReadOnlyList<RouteEntry>? v4 = null, v6 = null;
        foreach (var route in result.Routes ?? [])
        {
            if (!IPPrefix.TryParse(route.Dst, out var dst))
                throw new CniException(ErrorCode.FirstPluginCode, $"invalid route destination \"{route.Dst}\" in prevResult");
            IPAddress? gw = string.IsNullOrEmpty(route.Gw) ? null : IPAddress.Parse(route.Gw);
            uint? table = route.Table is int t ? (uint)t : RouteSocket.RT_TABLE_MAIN;
            var routes = dst.IsV4
                ? v4 ??= container.ListRoutes(AddressFamily.InterNetwork, null)
                : v6 ??= container.ListRoutes(AddressFamily.InterNetworkV6, null);
            uint? mtu = route.Mtu > 0 ? (uint)route.Mtu : null, advmss = route.AdvMss > 0 ? (uint)route.AdvMss : null;
            bool found = routes.Any(r => r.Table == table && r.PrefixLength == dst.PrefixLength
                && r.Destination.Equals(dst.Network.Address) && (gw is null || gw.Equals(r.Gateway))
                && (mtu is null || r.Mtu == mtu) && (advmss is null || r.AdvertisedMss == advmss));
            if (!found)
                throw new CniException(ErrorCode.FirstPluginCode, $"Failed to match route {route.Dst} via {route.Gw ?? "(none)"} in the container");
        }
    }

    private static void TryWrite(string key, string value) => HostSysctl.TryWrite(key, value);
}
