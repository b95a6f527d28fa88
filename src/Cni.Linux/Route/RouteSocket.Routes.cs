using System.Net;
using System.Net.Sockets;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Route;

public sealed partial class RouteSocket
{
    // Route attributes (enum rtattr_type_t, linux/rtnetlink.h).
    internal const ushort RTA_DST = 1;
    internal const ushort RTA_OIF = 4;
    internal const ushort RTA_GATEWAY = 5;
    internal const ushort RTA_PRIORITY = 6;
    internal const ushort RTA_PREFSRC = 7;
    internal const ushort RTA_METRICS = 8;
    internal const ushort RTA_TABLE = 15;

    // Route metrics nested in RTA_METRICS (enum RTAX_*, linux/rtnetlink.h).
    internal const ushort RTAX_MTU = 2;
    internal const ushort RTAX_ADVMSS = 8;

    public const uint RT_TABLE_UNSPEC = 0;
    public const uint RT_TABLE_MAIN = 254;
    public const uint RT_TABLE_LOCAL = 255;
    public const byte RTPROT_BOOT = 3;
    public const byte RTN_UNICAST = 1;
    private const uint RTM_F_CLONED = 0x200;
    // Next-hop flags, also carried in rtm_flags for a single-path route (linux/rtnetlink.h).
    internal const uint RTNH_F_ONLINK = 4;

    /// <summary>Adds a route; fails with EEXIST if the same route exists.</summary>
    public void AddRoute(RouteEntry route) => WriteRoute(route, RTM_NEWROUTE, Create, "add");

    /// <summary>Adds a route or replaces the one with the same destination, table and metric.</summary>
    public void ReplaceRoute(RouteEntry route)
        => WriteRoute(route, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, "replace");

    /// <summary>Deletes the route matching the given fields; returns false if there is none.</summary>
    public bool DeleteRoute(RouteEntry route)
    {
        var writer = new NetlinkWriter();
        try
        {
            EncodeRoute(ref writer, route, RTM_DELROUTE, Change, forDelete: true);
            return ExecuteUnlessMissing(ref writer, $"delete route {Describe(route)}", Errno.ESRCH, Errno.ENOENT);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Routes of one family in one table (null: every table), optionally through one link.</summary>
    public IReadOnlyList<RouteEntry> ListRoutes(AddressFamily family, uint? table = RT_TABLE_MAIN, int outputIndex = 0)
    {
        var result = new List<RouteEntry>();
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETROUTE, DumpFlags);
            writer.WriteHeader(new RtMsg { Family = FamilyByte(family) });
            _socket.Dump(ref writer, message =>
            {
                if (message.Type != RTM_NEWROUTE)
                {
                    return;
                }
                RtMsg header = message.ReadHeader<RtMsg>();
                if ((header.Flags & RTM_F_CLONED) != 0)
                {
                    return;
                }
                AddressFamily routeFamily = FamilyOf(header.Family);
                if (routeFamily == AddressFamily.Unspecified || (family != AddressFamily.Unspecified && routeFamily != family))
                {
                    return;
                }
                IPAddress? destination = null, gateway = null, source = null;
                int? oif = null;
                uint? metric = null, mtu = null, advmss = null;
                uint routeTable = header.Table;
                foreach (NetlinkAttribute a in message.Attributes(RtMsg.Size))
                {
                    switch (a.Type)
                    {
                        case RTA_DST: destination = a.Address; break;
                        case RTA_GATEWAY: gateway = a.Address; break;
                        case RTA_PREFSRC: source = a.Address; break;
                        case RTA_OIF: oif = a.S32; break;
                        case RTA_PRIORITY: metric = a.U32; break;
                        case RTA_TABLE: routeTable = a.U32; break;
                        case RTA_METRICS:
                            foreach (NetlinkAttribute m in a.Nested)
                            {
                                if (m.Type == RTAX_MTU) mtu = m.U32;
                                else if (m.Type == RTAX_ADVMSS) advmss = m.U32;
                            }
                            break;
                    }
                }
                if ((table is uint wanted && routeTable != wanted) || (outputIndex != 0 && oif != outputIndex))
                {
                    return;
                }
                result.Add(new RouteEntry
                {
                    Destination = destination ?? (routeFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any),
                    PrefixLength = header.DestinationLength,
                    Gateway = gateway,
                    OutputIndex = oif,
                    Scope = (RouteScope)header.Scope,
                    Table = routeTable,
                    Metric = metric,
                    PreferredSource = source,
                    Mtu = mtu,
                    AdvertisedMss = advmss,
                    Protocol = header.Protocol,
                    Type = header.Type,
                    OnLink = (header.Flags & RTNH_F_ONLINK) != 0,
                });
            }, "list routes");
        }
        finally
        {
            writer.Dispose();
        }
        return result;
    }

    private void WriteRoute(RouteEntry route, ushort type, ushort flags, string verb)
    {
        var writer = new NetlinkWriter();
        try
        {
            EncodeRoute(ref writer, route, type, flags, forDelete: false);
            Execute(ref writer, $"{verb} route {Describe(route)}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static void EncodeRoute(ref NetlinkWriter writer, RouteEntry route, ushort type, ushort flags, bool forDelete)
    {
        ArgumentNullException.ThrowIfNull(route);
        int max = route.Family == AddressFamily.InterNetworkV6 ? 128 : 32;
        if (route.PrefixLength < 0 || route.PrefixLength > max)
        {
            throw new ArgumentOutOfRangeException(nameof(route), $"prefix length must be 0-{max}");
        }
        if (route.Gateway is not null && route.Gateway.AddressFamily != route.Family)
        {
            throw new ArgumentException("gateway and destination families differ", nameof(route));
        }
        RouteScope scope = forDelete
            ? RouteScope.Nowhere // match any scope, as `ip route del`
            : route.Scope ?? (route.Gateway is null ? RouteScope.Link : RouteScope.Universe);
        writer.BeginMessage(type, flags);
        writer.WriteHeader(new RtMsg
        {
            Family = (byte)NetlinkWriter.FamilyOf(route.Destination),
            DestinationLength = (byte)route.PrefixLength,
            Table = route.Table < 256 ? (byte)route.Table : (byte)RT_TABLE_UNSPEC,
            Protocol = forDelete ? (byte)0 : route.Protocol,
            Scope = (byte)scope,
            Type = route.Type,
            Flags = !forDelete && route.OnLink ? RTNH_F_ONLINK : 0,
        });
        writer.AttributeU32(RTA_TABLE, route.Table);
        if (route.PrefixLength > 0)
        {
            writer.AttributeAddress(RTA_DST, route.Destination);
        }
        if (route.Gateway is not null)
        {
            writer.AttributeAddress(RTA_GATEWAY, route.Gateway);
        }
        if (route.OutputIndex is int oif)
        {
            writer.AttributeS32(RTA_OIF, oif);
        }
        if (route.Metric is uint metric)
        {
            writer.AttributeU32(RTA_PRIORITY, metric);
        }
        if (route.PreferredSource is not null)
        {
            writer.AttributeAddress(RTA_PREFSRC, route.PreferredSource);
        }
        if (!forDelete && (route.Mtu is not null || route.AdvertisedMss is not null))
        {
            // Like iproute2: RTA_METRICS without NLA_F_NESTED, holding one u32 attribute per metric.
            using var metrics = writer.Nest(RTA_METRICS, setNestedFlag: false);
            if (route.Mtu is uint mtu)
            {
                writer.AttributeU32(RTAX_MTU, mtu);
            }
            if (route.AdvertisedMss is uint advmss)
            {
                writer.AttributeU32(RTAX_ADVMSS, advmss);
            }
        }
    }

    private static string Describe(RouteEntry route)
        => $"{route.Destination}/{route.PrefixLength}"
            + (route.Gateway is null ? "" : " via " + route.Gateway)
            + (route.OutputIndex is int oif ? " dev #" + oif : "");
}
