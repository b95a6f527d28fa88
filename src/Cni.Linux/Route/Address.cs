using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Cni.Linux.Route;

/// <summary>An address on a link (RTM_NEWADDR).</summary>
public sealed record LinkAddress
{
    public required int LinkIndex { get; init; }
    public required IPAddress Address { get; init; }
    public required int PrefixLength { get; init; }
    public AddressFamily Family => Address.AddressFamily;

    /// <summary>IFA_F_* flags (IFA_FLAGS when present, else ifa_flags).</summary>
    public uint Flags { get; init; }

    public RouteScope Scope { get; init; }
    public IPAddress? Broadcast { get; init; }
    public string? Label { get; init; }
}

/// <summary>Route and address scopes (enum rt_scope_t).</summary>
public enum RouteScope : byte
{
    Universe = 0,
    Site = 200,
    Link = 253,
    Host = 254,
    Nowhere = 255,
}

/// <summary>A route (RTM_NEWROUTE). Used both to describe what to add and what was read back.</summary>
public sealed record RouteEntry
{
    /// <summary>Destination network; 0.0.0.0 or :: with prefix 0 is the default route.</summary>
    public required IPAddress Destination { get; init; }
    public required int PrefixLength { get; init; }
    public IPAddress? Gateway { get; init; }

    /// <summary>RTA_OIF: output link index.</summary>
    public int? OutputIndex { get; init; }

    /// <summary>Scope; when null, universe with a gateway and link without one (as `ip route`).</summary>
    public RouteScope? Scope { get; init; }

    /// <summary>Routing table (RT_TABLE_MAIN = 254 by default).</summary>
    public uint Table { get; init; } = RouteSocket.RT_TABLE_MAIN;

    /// <summary>RTA_PRIORITY, the metric.</summary>
    public uint? Metric { get; init; }

    /// <summary>RTA_PREFSRC.</summary>
    public IPAddress? PreferredSource { get; init; }

    /// <summary>RTAX_MTU in RTA_METRICS: the path MTU of the route (`ip route … mtu N`).</summary>
    public uint? Mtu { get; init; }

    /// <summary>RTAX_ADVMSS in RTA_METRICS: the MSS advertised to peers on TCP connections over the route (`advmss N`).</summary>
    public uint? AdvertisedMss { get; init; }

    /// <summary>rtm_protocol (RTPROT_BOOT = 3 by default, as `ip route add`).</summary>
    public byte Protocol { get; init; } = RouteSocket.RTPROT_BOOT;

    /// <summary>rtm_type (RTN_UNICAST = 1 by default).</summary>
    public byte Type { get; init; } = RouteSocket.RTN_UNICAST;

    /// <summary>RTNH_F_ONLINK in rtm_flags: the gateway is on the output link even without a route to it (`ip route … onlink`).</summary>
    public bool OnLink { get; init; }

    public AddressFamily Family => Destination.AddressFamily;

    /// <summary>A default route (0.0.0.0/0 or ::/0) through <paramref name="gateway"/>.</summary>
    public static RouteEntry Default(IPAddress gateway, int? outputIndex = null) => new()
    {
        Destination = gateway.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any,
        PrefixLength = 0,
        Gateway = gateway,
        OutputIndex = outputIndex,
    };
}

/// <summary>A neighbour (ARP/NDP) or bridge forwarding database entry (RTM_NEWNEIGH).</summary>
public sealed record Neighbour
{
    public required int LinkIndex { get; init; }

    /// <summary>AF_INET/AF_INET6 for ARP/NDP; Unknown (AF_BRIDGE) for FDB entries.</summary>
    public AddressFamily Family { get; init; }

    /// <summary>NDA_DST: the IP of a neighbour, or the remote VTEP of a vxlan FDB entry.</summary>
    public IPAddress? Address { get; init; }

    /// <summary>NDA_LLADDR.</summary>
    public PhysicalAddress? HardwareAddress { get; init; }

    /// <summary>ndm_state (NUD_*).</summary>
    public ushort State { get; init; }

    /// <summary>ndm_flags (NTF_*).</summary>
    public byte Flags { get; init; }

    /// <summary>NDA_VNI of a vxlan FDB entry, if set.</summary>
    public uint? Vni { get; init; }

    /// <summary>NDA_MASTER of a bridge FDB entry, if set.</summary>
    public int? MasterIndex { get; init; }

    public bool IsPermanent => (State & RouteSocket.NUD_PERMANENT) != 0;
    public bool IsSelf => (Flags & RouteSocket.NTF_SELF) != 0;
}
