using System.Net;
using System.Net.Sockets;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// Container interface setup that makes the kernel announce the new addresses: with arp_notify and
/// ndisc_notify on (<see cref="ContainerInterface.WriteSysctls"/>), the kernel sends a gratuitous ARP for every
/// IPv4 address and an unsolicited neighbour advertisement for every IPv6 address present when the link goes up
/// (NETDEV_UP). So the addresses go on while the link is still down, then the link comes up, then the routes
/// (a route through a down link is refused). <see cref="ContainerInterface.Configure"/> brings the link up
/// first, as the reference does, and then nothing is announced.
/// <para>Written for macvlan, where neighbours on the physical network must learn the new MAC at once; kept
/// apart from <see cref="ContainerInterface"/> so the two can be unified (same signature) later.</para>
/// </summary>
public static class AnnouncedAddresses
{
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
            var entry = ContainerInterface.ToEntry(route, linkIndex, v4Gateway, v6Gateway);
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
}
