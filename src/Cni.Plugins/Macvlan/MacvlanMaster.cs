using System.Net.Sockets;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// Finding and vetting the master (parent) link before anything is changed: it exists in the namespace the
/// options say, it is Ethernet-like, and the requested MTU fits. Every failure is code 7: the configuration
/// does not fit this node.
/// </summary>
public static class MacvlanMaster
{
    /// <summary>IFF_LOOPBACK (linux/if.h).</summary>
    public const uint IFF_LOOPBACK = 0x8;

    /// <param name="socket">A route socket in the namespace the master lives in.</param>
    /// <param name="where">That namespace, for messages ("the host namespace", a netns path).</param>
    public static Link Resolve(RouteSocket socket, MacvlanOptions o, string where)
    {
        Link master;
        if (o.Master is { } name)
        {
            master = socket.GetLink(name)
                ?? throw CniException.InvalidConfig($"master interface \"{name}\" not found", $"no link named {name} in {where}");
        }
        else
        {
            var routes = socket.ListRoutes(AddressFamily.InterNetwork).Concat(socket.ListRoutes(AddressFamily.InterNetworkV6));
            int index = MacvlanOptions.DefaultRouteLink(routes)
                ?? throw CniException.InvalidConfig("no master given and no default route interface found",
                    $"set \"master\"; {where} has no default route with an output interface");
            master = socket.GetLink(index)
                ?? throw CniException.InvalidConfig($"default route interface #{index} not found", $"in {where}");
        }

        if (!IsEthernetLike(master))
            throw CniException.InvalidConfig($"master interface \"{master.Name}\" is not an Ethernet-like link",
                $"macvlan needs a parent with a 6-byte hardware address that is not loopback; {master.Name} is {Describe(master)}");

        if (o.Mtu is int mtu && mtu > master.Mtu)
            throw CniException.InvalidConfig($"invalid MTU {mtu}, must be [0, master MTU({master.Mtu})]",
                $"master {master.Name} has MTU {master.Mtu}");
        return master;
    }

    /// <summary>
    /// What the kernel's macvlan driver accepts as a lower device (ARPHRD_ETHER, not loopback), judged from what
    /// rtnetlink reports: a non-zero 6-byte hardware address and no IFF_LOOPBACK. Tunnels (no address or a
    /// 4/16-byte one), tun devices and lo fail this.
    /// </summary>
    public static bool IsEthernetLike(Link link)
    {
        if ((link.Flags & IFF_LOOPBACK) != 0) return false;
        var bytes = link.Address?.GetAddressBytes();
        return bytes is { Length: 6 } && bytes.Any(b => b != 0);
    }

    private static string Describe(Link link)
    {
        if ((link.Flags & IFF_LOOPBACK) != 0) return "a loopback device";
        int length = link.Address?.GetAddressBytes().Length ?? 0;
        string kind = link.Kind ?? "a plain device";
        return length == 0 ? $"{kind} without a hardware address" : $"{kind} with a {length}-byte hardware address";
    }
}
