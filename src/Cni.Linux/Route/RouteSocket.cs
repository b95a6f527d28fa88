using System.Net.NetworkInformation;
using System.Net.Sockets;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Route;

/// <summary>
/// rtnetlink: links, addresses, routes and neighbours of the namespace the socket was opened in.
/// Open it once per namespace (<see cref="OpenIn"/>) and call it from any one thread at a time.
/// Lookups return null and deletes return false when the object does not exist.
/// </summary>
public sealed partial class RouteSocket : IDisposable
{
    // rtnetlink message types (linux/rtnetlink.h).
    internal const ushort RTM_NEWLINK = 16;
    internal const ushort RTM_DELLINK = 17;
    internal const ushort RTM_GETLINK = 18;
    internal const ushort RTM_SETLINK = 19;
    internal const ushort RTM_NEWADDR = 20;
    internal const ushort RTM_DELADDR = 21;
    internal const ushort RTM_GETADDR = 22;
    internal const ushort RTM_NEWROUTE = 24;
    internal const ushort RTM_DELROUTE = 25;
    internal const ushort RTM_GETROUTE = 26;
    internal const ushort RTM_NEWNEIGH = 28;
    internal const ushort RTM_DELNEIGH = 29;
    internal const ushort RTM_GETNEIGH = 30;

    private const ushort Create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    private const ushort Change = NLM_F_REQUEST | NLM_F_ACK;
    private const ushort DumpFlags = NLM_F_REQUEST | NLM_F_DUMP;

    private readonly NetlinkSocket _socket;

    /// <summary>Wraps an open NETLINK_ROUTE socket; the RouteSocket owns and disposes it.</summary>
    public RouteSocket(NetlinkSocket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.Protocol != NetlinkProtocol.Route)
        {
            throw new ArgumentException("a NETLINK_ROUTE socket is required", nameof(socket));
        }
        _socket = socket;
    }

    /// <summary>The underlying netlink socket.</summary>
    public NetlinkSocket Netlink => _socket;

    /// <summary>Opens a socket in the calling thread's namespace.</summary>
    public static RouteSocket Open() => new(NetlinkSocket.Open(NetlinkProtocol.Route));

    /// <summary>Opens a socket bound to <paramref name="ns"/> (entered only to create it).</summary>
    public static RouteSocket OpenIn(NetNs ns) => new(NetlinkSocket.OpenIn(ns, NetlinkProtocol.Route));

    public void Dispose() => _socket.Dispose();

    private void Execute(ref NetlinkWriter writer, string operation)
        => _socket.Request(ref writer, null, operation);

    /// <summary>Runs a request; returns false if the kernel says the target does not exist.</summary>
    private bool ExecuteUnlessMissing(ref NetlinkWriter writer, string operation, Errno missing, Errno alsoMissing)
    {
        if (_socket.TryRequest(ref writer, out NetlinkException? error, null, operation))
        {
            return true;
        }
        if (error!.Errno == missing || error.Errno == alsoMissing)
        {
            return false;
        }
        throw error;
    }

    internal static byte FamilyByte(AddressFamily family) => family switch
    {
        AddressFamily.Unspecified => Libc.AF_UNSPEC,
        AddressFamily.InterNetwork => Libc.AF_INET,
        AddressFamily.InterNetworkV6 => Libc.AF_INET6,
        _ => throw new ArgumentException("only IPv4, IPv6 or unspecified families are supported", nameof(family)),
    };

    internal static AddressFamily FamilyOf(byte family) => family switch
    {
        Libc.AF_INET => AddressFamily.InterNetwork,
        Libc.AF_INET6 => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unspecified,
    };

    internal static void WriteMac(ref NetlinkWriter writer, ushort type, PhysicalAddress mac)
    {
        byte[] bytes = mac.GetAddressBytes();
        if (bytes.Length == 0)
        {
            throw new ArgumentException("empty hardware address", nameof(mac));
        }
        writer.Attribute(type, bytes);
    }
}
