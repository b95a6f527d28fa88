using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using Cni.Linux.Namespaces;

namespace Cni.Linux.Route;

/// <summary>A network interface as rtnetlink reports it (RTM_NEWLINK).</summary>
public sealed record Link
{
    public required int Index { get; init; }
    public required string Name { get; init; }

    /// <summary>IFLA_INFO_KIND: "veth", "bridge", "macvlan", "vxlan"... null for plain devices (lo).</summary>
    public string? Kind { get; init; }

    public int Mtu { get; init; }

    /// <summary>IFLA_ADDRESS, the hardware (MAC) address.</summary>
    public PhysicalAddress? Address { get; init; }

    /// <summary>ifi_flags (IFF_UP, IFF_PROMISC, ...).</summary>
    public uint Flags { get; init; }

    public bool IsUp => (Flags & RouteSocket.IFF_UP) != 0;

    /// <summary>IFLA_OPERSTATE (RFC 2863: 2 down, 6 up, 0 unknown).</summary>
    public byte OperState { get; init; }

    /// <summary>IFLA_MASTER: the bridge (or other master) this link is enslaved to; 0 if none.</summary>
    public int MasterIndex { get; init; }

    /// <summary>IFLA_LINK: the parent/peer link index (may live in another namespace); 0 if none.</summary>
    public int ParentIndex { get; init; }

    /// <summary>IFLA_LINK_NETNSID: namespace id of the parent/peer when it is elsewhere.</summary>
    public int? ParentNetNsId { get; init; }

    /// <summary>IFLA_IFALIAS.</summary>
    public string? Alias { get; init; }

    /// <summary>IFLA_PROMISCUITY: promiscuous-mode reference count.</summary>
    public int Promiscuity { get; init; }
    /// <summary>IFLA_TXQLEN: the transmit queue length.</summary>
    public int TxQueueLength { get; init; }

    /// <summary>IFLA_INFO_SLAVE_KIND: kind of the master this link is a port of ("bridge").</summary>
    public string? PortKind { get; init; }

    public MacvlanMode? MacvlanMode { get; init; }
    public VxlanInfo? Vxlan { get; init; }
    public BridgeInfo? Bridge { get; init; }
    public BridgePortInfo? BridgePort { get; init; }
}

/// <summary>macvlan modes (enum macvlan_mode, linux/if_link.h).</summary>
public enum MacvlanMode : uint
{
    Private = 1,
    Vepa = 2,
    Bridge = 4,
    Passthru = 8,
    Source = 16,
}

/// <summary>vxlan settings read back from IFLA_INFO_DATA.</summary>
public sealed record VxlanInfo
{
    public uint Vni { get; init; }
    public ushort Port { get; init; }
    public IPAddress? Local { get; init; }
    public IPAddress? Group { get; init; }
    public int UnderlayIndex { get; init; }
    public bool Learning { get; init; }
    public byte Ttl { get; init; }
    public bool UdpChecksum { get; init; }
    public bool UdpZeroChecksum6Tx { get; init; }
    public bool UdpZeroChecksum6Rx { get; init; }
}

/// <summary>bridge settings read back from IFLA_INFO_DATA.</summary>
public sealed record BridgeInfo
{
    /// <summary>IFLA_BR_VLAN_FILTERING; null when not reported. Kernels without VLAN filtering still report false.</summary>
    public bool? VlanFiltering { get; init; }
}

/// <summary>Per-port bridge flags (IFLA_BRPORT_*), read from IFLA_INFO_SLAVE_DATA.</summary>
public sealed record BridgePortInfo
{
    public bool Hairpin { get; init; }
    public bool Learning { get; init; }
    public bool Isolated { get; init; }
    public bool NeighSuppress { get; init; }
}

/// <summary>Bridge port flags to change; null leaves a flag as it is.</summary>
public sealed record BridgePortSettings
{
    public bool? Hairpin { get; init; }
    public bool? Learning { get; init; }
    public bool? Isolated { get; init; }
    public bool? NeighSuppress { get; init; }
}

/// <summary>What to create: common settings for every link kind.</summary>
public abstract record LinkSpec
{
    protected LinkSpec(string name)
    {
        LinkName.Validate(name);
        Name = name;
    }

    public string Name { get; }
    public int? Mtu { get; init; }
    public PhysicalAddress? Address { get; init; }

    /// <summary>Create the link directly in this namespace (IFLA_NET_NS_FD) instead of the socket's.</summary>
    public NetNs? Namespace { get; init; }

    public abstract string Kind { get; }
}

/// <summary>A veth pair; the peer may be created directly in another namespace.</summary>
public sealed record VethSpec : LinkSpec
{
    public VethSpec(string name, string peerName) : base(name)
    {
        LinkName.Validate(peerName);
        PeerName = peerName;
    }

    public string PeerName { get; }
    public PhysicalAddress? PeerAddress { get; init; }

    /// <summary>MTU of the peer; defaults to <see cref="LinkSpec.Mtu"/>.</summary>
    public int? PeerMtu { get; init; }

    /// <summary>Namespace to create the peer in (e.g. the container's).</summary>
    public NetNs? PeerNamespace { get; init; }

    public override string Kind => "veth";
}

public sealed record BridgeSpec : LinkSpec
{
    public BridgeSpec(string name) : base(name)
    {
    }

    /// <summary>IFLA_BR_VLAN_FILTERING; fails with EOPNOTSUPP if the kernel lacks it.</summary>
    public bool? VlanFiltering { get; init; }

    public override string Kind => "bridge";
}

public sealed record MacvlanSpec : LinkSpec
{
    public MacvlanSpec(string name, int parentIndex, MacvlanMode mode) : base(name)
    {
        ParentIndex = parentIndex;
        Mode = mode;
    }

    public int ParentIndex { get; }
    public MacvlanMode Mode { get; }

    public override string Kind => "macvlan";
}

public sealed record VxlanSpec : LinkSpec
{
    public VxlanSpec(string name, uint vni) : base(name)
    {
        if (vni > 0xFFFFFF)
        {
            throw new ArgumentOutOfRangeException(nameof(vni), "a VNI has 24 bits");
        }
        Vni = vni;
    }

    public uint Vni { get; }

    /// <summary>UDP destination port (IFLA_VXLAN_PORT); kernel default 8472 when unset, IANA is 4789.</summary>
    public ushort? Port { get; init; }
    public IPAddress? Local { get; init; }
    public IPAddress? Group { get; init; }
    public int? UnderlayIndex { get; init; }
    public bool? Learning { get; init; }
    public byte? Ttl { get; init; }
    public bool? UdpChecksum { get; init; }
    public bool? UdpZeroChecksum6Tx { get; init; }
    public bool? UdpZeroChecksum6Rx { get; init; }

    public override string Kind => "vxlan";
}

/// <summary>An intermediate functional block device (ifb): what is redirected to it leaves through its egress qdisc.</summary>
public sealed record IfbSpec : LinkSpec
{
    public IfbSpec(string name) : base(name)
    {
    }

    public override string Kind => "ifb";
}

/// <summary>Interface name rules of the kernel (dev_valid_name).</summary>
public static class LinkName
{
    /// <summary>IFNAMSIZ - 1.</summary>
    public const int MaxLength = 15;

    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name is "." or ".." || Encoding.UTF8.GetByteCount(name) > MaxLength)
        {
            return false;
        }
        foreach (char c in name)
        {
            if (c == '/' || c == ':' || c == '\0' || char.IsWhiteSpace(c))
            {
                return false;
            }
        }
        return true;
    }

    public static void Validate(string? name)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"invalid interface name '{name}': 1-15 bytes, no '/', ':' or whitespace", nameof(name));
        }
    }
}
