using System.Net;
using System.Net.NetworkInformation;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Route;

public sealed partial class RouteSocket
{
    // Interface flags (linux/if.h).
    public const uint IFF_UP = 0x1;
    public const uint IFF_PROMISC = 0x100;
    public const uint IFF_ALLMULTI = 0x200;

    // Link attributes (enum IFLA_*, linux/if_link.h).
    internal const ushort IFLA_ADDRESS = 1;
    internal const ushort IFLA_IFNAME = 3;
    internal const ushort IFLA_MTU = 4;
    internal const ushort IFLA_LINK = 5;
    internal const ushort IFLA_MASTER = 10;
    internal const ushort IFLA_PROTINFO = 12;
    internal const ushort IFLA_TXQLEN = 13;
    internal const ushort IFLA_OPERSTATE = 16;
    internal const ushort IFLA_LINKINFO = 18;
    internal const ushort IFLA_IFALIAS = 20;
    internal const ushort IFLA_AF_SPEC = 26;
    internal const ushort IFLA_NET_NS_FD = 28;
    internal const ushort IFLA_EXT_MASK = 29;
    internal const ushort IFLA_PROMISCUITY = 30;
    internal const ushort IFLA_LINK_NETNSID = 37;

    /// <summary>IFLA_AF_SPEC / AF_INET: the interface's IPv4 settings, indexed by IPV4_DEVCONF_*.</summary>
    internal const ushort IFLA_INET_CONF = 1;
    /// <summary>IPV4_DEVCONF_ARP_NOTIFY (linux/ip.h): net.ipv4.conf.IFNAME.arp_notify.</summary>
    public const ushort IPV4_DEVCONF_ARP_NOTIFY = 22;

    internal const ushort IFLA_INFO_KIND = 1;
    internal const ushort IFLA_INFO_DATA = 2;
    internal const ushort IFLA_INFO_SLAVE_KIND = 4;
    internal const ushort IFLA_INFO_SLAVE_DATA = 5;

    internal const ushort VETH_INFO_PEER = 1;

    internal const ushort IFLA_MACVLAN_MODE = 1;

    internal const ushort IFLA_BR_VLAN_FILTERING = 7;

    internal const ushort IFLA_BRPORT_MODE = 4;
    internal const ushort IFLA_BRPORT_LEARNING = 8;
    internal const ushort IFLA_BRPORT_NEIGH_SUPPRESS = 32;
    internal const ushort IFLA_BRPORT_ISOLATED = 33;

    internal const ushort IFLA_VXLAN_ID = 1;
    internal const ushort IFLA_VXLAN_GROUP = 2;
    internal const ushort IFLA_VXLAN_LINK = 3;
    internal const ushort IFLA_VXLAN_LOCAL = 4;
    internal const ushort IFLA_VXLAN_TTL = 5;
    internal const ushort IFLA_VXLAN_LEARNING = 7;
    internal const ushort IFLA_VXLAN_PORT = 15;
    internal const ushort IFLA_VXLAN_GROUP6 = 16;
    internal const ushort IFLA_VXLAN_LOCAL6 = 17;
    internal const ushort IFLA_VXLAN_UDP_CSUM = 18;
    internal const ushort IFLA_VXLAN_UDP_ZERO_CSUM6_TX = 19;
    internal const ushort IFLA_VXLAN_UDP_ZERO_CSUM6_RX = 20;

    // IFLA_EXT_MASK bits: leave the statistics out of replies.
    private const uint RTEXT_FILTER_SKIP_STATS = 1 << 3;

    // ---- Queries ---------------------------------------------------------------------------

    /// <summary>The link called <paramref name="name"/>, or null if there is none (ENODEV).</summary>
    public Link? GetLink(string name)
    {
        LinkName.Validate(name);
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETLINK, Change);
            writer.WriteHeader(new IfInfoMsg());
            writer.AttributeString(IFLA_IFNAME, name);
            writer.AttributeU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            return QueryLink(ref writer, "get link " + name);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>The link with <paramref name="index"/>, or null if there is none (ENODEV).</summary>
    public Link? GetLink(int index)
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETLINK, Change);
            writer.WriteHeader(new IfInfoMsg { Index = index });
            writer.AttributeU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            return QueryLink(ref writer, "get link #" + index);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Every link in the namespace.</summary>
    public IReadOnlyList<Link> ListLinks()
    {
        var links = new List<Link>();
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETLINK, DumpFlags);
            writer.WriteHeader(new IfInfoMsg());
            writer.AttributeU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            _socket.Dump(ref writer, message =>
            {
                if (message.Type == RTM_NEWLINK)
                {
                    links.Add(ParseLink(message));
                }
            }, "list links");
        }
        finally
        {
            writer.Dispose();
        }
        return links;
    }

    private Link? QueryLink(ref NetlinkWriter writer, string operation)
    {
        Link? link = null;
        if (_socket.TryRequest(ref writer, out NetlinkException? error, message =>
            {
                if (message.Type == RTM_NEWLINK)
                {
                    link = ParseLink(message);
                }
            }, operation))
        {
            return link;
        }
        if (error!.Errno is Errno.ENODEV)
        {
            return null;
        }
        throw error;
    }

    internal static Link ParseLink(NetlinkMessage message)
    {
        IfInfoMsg header = message.ReadHeader<IfInfoMsg>();
        string name = "";
        string? kind = null, portKind = null, alias = null;
        int mtu = 0, master = 0, parent = 0, promiscuity = 0, txQueueLength = 0;
        int? parentNetNsId = null;
        byte operState = 0;
        PhysicalAddress? address = null;
        MacvlanMode? macvlanMode = null;
        VxlanInfo? vxlan = null;
        BridgeInfo? bridge = null;
        BridgePortInfo? bridgePort = null;

        foreach (NetlinkAttribute attribute in message.Attributes(IfInfoMsg.Size))
        {
            switch (attribute.Type)
            {
                case IFLA_IFNAME: name = attribute.String; break;
                case IFLA_MTU: mtu = attribute.S32; break;
                case IFLA_ADDRESS: address = new PhysicalAddress(attribute.Value.ToArray()); break;
                case IFLA_MASTER: master = attribute.S32; break;
                case IFLA_LINK: parent = attribute.S32; break;
                case IFLA_LINK_NETNSID: parentNetNsId = attribute.S32; break;
                case IFLA_IFALIAS: alias = attribute.String; break;
                case IFLA_PROMISCUITY: promiscuity = attribute.S32; break;
                case IFLA_TXQLEN: txQueueLength = attribute.S32; break;
                case IFLA_OPERSTATE: operState = attribute.U8; break;
                case IFLA_LINKINFO:
                    ParseLinkInfo(attribute.Nested, ref kind, ref portKind, ref macvlanMode, ref vxlan, ref bridge, ref bridgePort);
                    break;
            }
        }

        return new Link
        {
            Index = header.Index,
            Name = name,
            Kind = kind,
            Mtu = mtu,
            Address = address,
            Flags = header.Flags,
            OperState = operState,
            MasterIndex = master,
            ParentIndex = parent,
            ParentNetNsId = parentNetNsId,
            Alias = alias,
            Promiscuity = promiscuity,
            TxQueueLength = txQueueLength,
            PortKind = portKind,
            MacvlanMode = macvlanMode,
            Vxlan = vxlan,
            Bridge = bridge,
            BridgePort = bridgePort,
        };
    }

    private static void ParseLinkInfo(NetlinkAttributeReader info, ref string? kind, ref string? portKind,
        ref MacvlanMode? macvlanMode, ref VxlanInfo? vxlan, ref BridgeInfo? bridge, ref BridgePortInfo? bridgePort)
    {
        // IFLA_INFO_KIND precedes IFLA_INFO_DATA, and SLAVE_KIND precedes SLAVE_DATA.
        foreach (NetlinkAttribute attribute in info)
        {
            switch (attribute.Type)
            {
                case IFLA_INFO_KIND:
                    kind = attribute.String;
                    break;
                case IFLA_INFO_SLAVE_KIND:
                    portKind = attribute.String;
                    break;
                case IFLA_INFO_DATA when kind == "macvlan":
                    foreach (NetlinkAttribute a in attribute.Nested)
                    {
                        if (a.Type == IFLA_MACVLAN_MODE)
                        {
                            macvlanMode = (MacvlanMode)a.U32;
                        }
                    }
                    break;
                case IFLA_INFO_DATA when kind == "vxlan":
                    vxlan = ParseVxlan(attribute.Nested);
                    break;
                case IFLA_INFO_DATA when kind == "bridge":
                    bool? filtering = null;
                    foreach (NetlinkAttribute a in attribute.Nested)
                    {
                        if (a.Type == IFLA_BR_VLAN_FILTERING)
                        {
                            filtering = a.Bool;
                        }
                    }
                    bridge = new BridgeInfo { VlanFiltering = filtering };
                    break;
                case IFLA_INFO_SLAVE_DATA when portKind == "bridge":
                    bool hairpin = false, learning = false, isolated = false, suppress = false;
                    foreach (NetlinkAttribute a in attribute.Nested)
                    {
                        switch (a.Type)
                        {
                            case IFLA_BRPORT_MODE: hairpin = a.Bool; break;
                            case IFLA_BRPORT_LEARNING: learning = a.Bool; break;
                            case IFLA_BRPORT_ISOLATED: isolated = a.Bool; break;
                            case IFLA_BRPORT_NEIGH_SUPPRESS: suppress = a.Bool; break;
                        }
                    }
                    bridgePort = new BridgePortInfo { Hairpin = hairpin, Learning = learning, Isolated = isolated, NeighSuppress = suppress };
                    break;
            }
        }
    }

    private static VxlanInfo ParseVxlan(NetlinkAttributeReader data)
    {
        uint vni = 0;
        ushort port = 0;
        IPAddress? local = null, group = null;
        int underlay = 0;
        bool learning = false, csum = false, zero6tx = false, zero6rx = false;
        byte ttl = 0;
        foreach (NetlinkAttribute a in data)
        {
            switch (a.Type)
            {
                case IFLA_VXLAN_ID: vni = a.U32; break;
                case IFLA_VXLAN_PORT: port = a.U16BigEndian; break;
                case IFLA_VXLAN_LOCAL or IFLA_VXLAN_LOCAL6: local = a.Address; break;
                case IFLA_VXLAN_GROUP or IFLA_VXLAN_GROUP6: group = a.Address; break;
                case IFLA_VXLAN_LINK: underlay = (int)a.U32; break;
                case IFLA_VXLAN_LEARNING: learning = a.Bool; break;
                case IFLA_VXLAN_TTL: ttl = a.U8; break;
                case IFLA_VXLAN_UDP_CSUM: csum = a.Bool; break;
                case IFLA_VXLAN_UDP_ZERO_CSUM6_TX: zero6tx = a.Bool; break;
                case IFLA_VXLAN_UDP_ZERO_CSUM6_RX: zero6rx = a.Bool; break;
            }
        }
        return new VxlanInfo
        {
            Vni = vni,
            Port = port,
            Local = local,
            Group = group,
            UnderlayIndex = underlay,
            Learning = learning,
            Ttl = ttl,
            UdpChecksum = csum,
            UdpZeroChecksum6Tx = zero6tx,
            UdpZeroChecksum6Rx = zero6rx,
        };
    }

    // ---- Creation --------------------------------------------------------------------------

    /// <summary>
    /// Creates a link (veth pair, bridge, macvlan or vxlan). Fails with EEXIST if the name is taken.
    /// Links created in another namespace (<see cref="LinkSpec.Namespace"/>) are looked up there.
    /// </summary>
    public void AddLink(LinkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_NEWLINK, Create);
            writer.WriteHeader(new IfInfoMsg());
            writer.AttributeString(IFLA_IFNAME, spec.Name);
            WriteCommon(ref writer, spec.Mtu, spec.Address, spec.Namespace);
            if (spec is MacvlanSpec macvlan)
            {
                writer.AttributeS32(IFLA_LINK, macvlan.ParentIndex);
            }
            using (writer.Nest(IFLA_LINKINFO))
            {
                writer.AttributeString(IFLA_INFO_KIND, spec.Kind);
                if (spec is not IfbSpec) // ifb has no kind data
                {
                    using (writer.Nest(IFLA_INFO_DATA))
                    {
                        WriteKindData(ref writer, spec);
                    }
                }
            }
            Execute(ref writer, $"create {spec.Kind} {spec.Name}");
        }
        catch (NetlinkException e) when (e.Errno == Errno.EOPNOTSUPP && spec is BridgeSpec { VlanFiltering: not null })
        {
            throw VlanFilteringUnsupported(spec.Name, e);
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static void WriteCommon(ref NetlinkWriter writer, int? mtu, PhysicalAddress? address, NetNs? ns)
    {
        if (mtu is int m)
        {
            writer.AttributeU32(IFLA_MTU, (uint)m);
        }
        if (address is not null)
        {
            WriteMac(ref writer, IFLA_ADDRESS, address);
        }
        if (ns is not null)
        {
            writer.AttributeU32(IFLA_NET_NS_FD, (uint)ns.Descriptor);
        }
    }

    private static void WriteKindData(ref NetlinkWriter writer, LinkSpec spec)
    {
        switch (spec)
        {
            case VethSpec veth:
                // VETH_INFO_PEER carries a whole ifinfomsg then the peer's own attributes.
                using (writer.Nest(VETH_INFO_PEER, setNestedFlag: false))
                {
                    writer.WriteHeader(new IfInfoMsg());
                    writer.AttributeString(IFLA_IFNAME, veth.PeerName);
                    WriteCommon(ref writer, veth.PeerMtu ?? veth.Mtu, veth.PeerAddress, veth.PeerNamespace);
                }
                break;
            case BridgeSpec bridge:
                if (bridge.VlanFiltering is bool filtering)
                {
                    writer.AttributeU8(IFLA_BR_VLAN_FILTERING, filtering ? (byte)1 : (byte)0);
                }
                break;
            case MacvlanSpec macvlan:
                writer.AttributeU32(IFLA_MACVLAN_MODE, (uint)macvlan.Mode);
                break;
            case VxlanSpec vxlan:
                writer.AttributeU32(IFLA_VXLAN_ID, vxlan.Vni);
                if (vxlan.Port is ushort port)
                {
                    writer.AttributeU16BigEndian(IFLA_VXLAN_PORT, port);
                }
                if (vxlan.Local is not null)
                {
                    bool v6 = vxlan.Local.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                    writer.AttributeAddress(v6 ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, vxlan.Local);
                }
                if (vxlan.Group is not null)
                {
                    bool v6 = vxlan.Group.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
                    writer.AttributeAddress(v6 ? IFLA_VXLAN_GROUP6 : IFLA_VXLAN_GROUP, vxlan.Group);
                }
                if (vxlan.UnderlayIndex is int underlay)
                {
                    writer.AttributeU32(IFLA_VXLAN_LINK, (uint)underlay);
                }
                if (vxlan.Learning is bool learning)
                {
                    writer.AttributeU8(IFLA_VXLAN_LEARNING, learning ? (byte)1 : (byte)0);
                }
                if (vxlan.Ttl is byte ttl)
                {
                    writer.AttributeU8(IFLA_VXLAN_TTL, ttl);
                }
                if (vxlan.UdpChecksum is bool csum)
                {
                    writer.AttributeU8(IFLA_VXLAN_UDP_CSUM, csum ? (byte)1 : (byte)0);
                }
                if (vxlan.UdpZeroChecksum6Tx is bool tx)
                {
                    writer.AttributeU8(IFLA_VXLAN_UDP_ZERO_CSUM6_TX, tx ? (byte)1 : (byte)0);
                }
                if (vxlan.UdpZeroChecksum6Rx is bool rx)
                {
                    writer.AttributeU8(IFLA_VXLAN_UDP_ZERO_CSUM6_RX, rx ? (byte)1 : (byte)0);
                }
                break;
            default:
                throw new ArgumentException($"unsupported link kind {spec.Kind}", nameof(spec));
        }
    }

    // ---- Deletion and changes --------------------------------------------------------------

    /// <summary>Deletes a link (a veth takes its peer with it). Returns false if it did not exist.</summary>
    public bool DeleteLink(int index)
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_DELLINK, Change);
            writer.WriteHeader(new IfInfoMsg { Index = index });
            return ExecuteUnlessMissing(ref writer, "delete link #" + index, Errno.ENODEV, Errno.ENODEV);
        }
        finally
        {
            writer.Dispose();
        }
    }

    public void SetLinkUp(int index) => SetFlags(index, IFF_UP, IFF_UP, "set link up");

    public void SetLinkDown(int index) => SetFlags(index, 0, IFF_UP, "set link down");

    /// <summary>Turns promiscuous mode on or off (IFF_PROMISC adjusts the promiscuity count).</summary>
    public void SetLinkPromiscuous(int index, bool on) => SetFlags(index, on ? IFF_PROMISC : 0, IFF_PROMISC, "set promiscuous");

    /// <summary>Turns all-multicast mode on or off (IFF_ALLMULTI adjusts the allmulti count).</summary>
    public void SetLinkAllMulticast(int index, bool on) => SetFlags(index, on ? IFF_ALLMULTI : 0, IFF_ALLMULTI, "set allmulticast");

    /// <summary>Sets the transmit queue length (IFLA_TXQLEN).</summary>
    public void SetLinkTxQueueLength(int index, int length)
    {
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeU32(IFLA_TXQLEN, (uint)length);
            Execute(ref writer, $"set txqueuelen {length} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    public void SetLinkMtu(int index, int mtu)
    {
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeU32(IFLA_MTU, (uint)mtu);
            Execute(ref writer, $"set mtu {mtu} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    public void SetLinkAddress(int index, PhysicalAddress address)
    {
        var writer = BeginSetLink(index);
        try
        {
            WriteMac(ref writer, IFLA_ADDRESS, address);
            Execute(ref writer, $"set address {address} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Enslaves the link to a bridge (or other master); 0 releases it (nomaster).</summary>
    public void SetLinkMaster(int index, int masterIndex)
    {
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeU32(IFLA_MASTER, (uint)masterIndex);
            Execute(ref writer, $"set master #{masterIndex} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    public void SetLinkNoMaster(int index) => SetLinkMaster(index, 0);

    /// <summary>Sets IFLA_IFALIAS (used to tag what we created); an empty string clears it.</summary>
    public void SetLinkAlias(int index, string alias)
    {
        ArgumentNullException.ThrowIfNull(alias);
        if (alias.Length > 255)
        {
            throw new ArgumentException("alias longer than 255 characters", nameof(alias));
        }
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeString(IFLA_IFALIAS, alias);
            Execute(ref writer, $"set alias on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>
    /// Sets one of the link's IPv4 settings (net.ipv4.conf.IFNAME.KEY; <paramref name="key"/> is an IPV4_DEVCONF_*
    /// index) through IFLA_AF_SPEC. Same effect as the /proc/sys file, without a path lookup: every network
    /// namespace that looked up /proc/sys/net/ipv4/conf/eth0 leaves a dentry for "eth0" in one shared hash
    /// chain, which each such lookup walks (27% of a bridge ADD's CPU with 1,000 containers, perf).
    /// </summary>
    public void SetIPv4DeviceConfig(int index, ushort key, uint value)
    {
        var writer = BeginSetLink(index);
        try
        {
            using (writer.Nest(IFLA_AF_SPEC))
            using (writer.Nest(Libc.AF_INET))
            using (writer.Nest(IFLA_INET_CONF))
            {
                writer.AttributeU32(key, value);
            }
            Execute(ref writer, $"set IPv4 setting {key} = {value} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Renames a link (it must be down). Use a socket opened in the link's namespace.</summary>
    public void RenameLink(int index, string newName)
    {
        LinkName.Validate(newName);
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeString(IFLA_IFNAME, newName);
            Execute(ref writer, $"rename link #{index} to {newName}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Moves a link into <paramref name="ns"/>, optionally renaming it on the way.</summary>
    public void MoveLinkToNamespace(int index, NetNs ns, string? newName = null)
    {
        ArgumentNullException.ThrowIfNull(ns);
        if (newName is not null)
        {
            LinkName.Validate(newName);
        }
        var writer = BeginSetLink(index);
        try
        {
            writer.AttributeU32(IFLA_NET_NS_FD, (uint)ns.Descriptor);
            if (newName is not null)
            {
                writer.AttributeString(IFLA_IFNAME, newName);
            }
            Execute(ref writer, $"move link #{index} to {ns.Path}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Sets bridge port flags through IFLA_PROTINFO (AF_BRIDGE); the link must be a bridge port.</summary>
    public void SetBridgePort(int index, BridgePortSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_SETLINK, Change);
            writer.WriteHeader(new IfInfoMsg { Family = Libc.AF_BRIDGE, Index = index });
            using (writer.Nest(IFLA_PROTINFO)) // NLA_F_NESTED is required here, or the kernel reads a bare STP state
            {
                WriteFlag(ref writer, IFLA_BRPORT_MODE, settings.Hairpin);
                WriteFlag(ref writer, IFLA_BRPORT_LEARNING, settings.Learning);
                WriteFlag(ref writer, IFLA_BRPORT_ISOLATED, settings.Isolated);
                WriteFlag(ref writer, IFLA_BRPORT_NEIGH_SUPPRESS, settings.NeighSuppress);
            }
            Execute(ref writer, $"set bridge port flags on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Turns VLAN filtering on a bridge on or off; throws EOPNOTSUPP clearly when the kernel lacks it.</summary>
    public void SetBridgeVlanFiltering(int index, bool on)
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_NEWLINK, Change);
            writer.WriteHeader(new IfInfoMsg { Index = index });
            using (writer.Nest(IFLA_LINKINFO))
            {
                writer.AttributeString(IFLA_INFO_KIND, "bridge");
                using (writer.Nest(IFLA_INFO_DATA))
                {
                    writer.AttributeU8(IFLA_BR_VLAN_FILTERING, on ? (byte)1 : (byte)0);
                }
            }
            Execute(ref writer, $"set vlan_filtering on bridge #{index}");
        }
        catch (NetlinkException e) when (e.Errno == Errno.EOPNOTSUPP)
        {
            throw VlanFilteringUnsupported("#" + index, e);
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static LinuxException VlanFilteringUnsupported(string bridge, NetlinkException inner)
        => new(Errno.EOPNOTSUPP,
            $"set vlan_filtering on bridge {bridge}: this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); kernel said: {inner.KernelMessage ?? "operation not supported"}");

    private static void WriteFlag(ref NetlinkWriter writer, ushort type, bool? value)
    {
        if (value is bool on)
        {
            writer.AttributeU8(type, on ? (byte)1 : (byte)0);
        }
    }

    private static NetlinkWriter BeginSetLink(int index)
    {
        var writer = new NetlinkWriter();
        writer.BeginMessage(RTM_SETLINK, Change);
        writer.WriteHeader(new IfInfoMsg { Index = index });
        return writer;
    }

    private void SetFlags(int index, uint flags, uint change, string what)
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_SETLINK, Change);
            writer.WriteHeader(new IfInfoMsg { Index = index, Flags = flags, Change = change });
            Execute(ref writer, $"{what} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }
}
