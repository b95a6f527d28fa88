using System.Net;
using System.Net.Sockets;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// A vxlan configuration after validation, before anything touches the kernel: the overlay's own settings
/// and the bridge options it runs on. Pure; built by <see cref="From(CniRequest)"/>.
/// </summary>
public sealed class VxlanOptions
{
    public const uint MaxVni = 0xFF_FFFF;
    public const ushort DefaultPort = 4789;

    public required uint Vni { get; init; }
    public required ushort Port { get; init; }
    public string? UnderlayDevice { get; init; }
    public IPAddress? LocalIP { get; init; }
    /// <summary>The peers, parsed and without duplicates, in config order. Empty in group mode.</summary>
    public IReadOnlyList<IPAddress> Peers { get; init; } = [];
    public IPAddress? Group { get; init; }
    public bool Learning { get; init; }
    /// <summary>The configured MTU (the bridge's <c>mtu</c>), or null for the underlay's minus the overhead.</summary>
    public int? Mtu { get; init; }
    public HardwareAddress? VtepMac { get; init; }
    public bool DisableTxChecksumOffload { get; init; }
    public byte Ttl { get; init; }
    public required BridgeOptions Bridge { get; init; }
    /// <summary>Cluster mode (node name resolved), or null.</summary>
    public VxlanClusterOptions? Cluster { get; init; }

    /// <summary>The vxlan device: "vxlan&lt;vni&gt;" (at most 13 bytes).</summary>
    public string DeviceName => DeviceNameOf(Vni);

    /// <summary>The underlay address family the config pins (by localIP, peers or group), or null when it pins none.</summary>
    public AddressFamily? UnderlayFamily =>
        LocalIP?.AddressFamily ?? Group?.AddressFamily ?? (Peers.Count > 0 ? Peers[0].AddressFamily : null);

    public static string DeviceNameOf(uint vni) => "vxlan" + vni.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The bridge name when the config gives none.</summary>
    public static string DefaultBridgeName(uint vni) => "vx" + vni.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static VxlanOptions From(CniRequest request) =>
        From(VxlanConfig.Parse(request.StdinData), BridgeConfig.Parse(request.StdinData), request.Config, request.Args);

    public static VxlanOptions From(VxlanConfig v, BridgeConfig b, NetworkConfig net, CniArgs args)
    {
        if (v.Vni is not { } vniValue)
            throw CniException.InvalidConfig("vni is required (1 to 16777215)");
        if (vniValue < 1 || vniValue > MaxVni)
            throw CniException.InvalidConfig($"invalid vni {vniValue} (must be between 1 and 16777215)");
        uint vni = (uint)vniValue;

        long portValue = v.Port ?? DefaultPort;
        if (portValue < 1 || portValue > 65535)
            throw CniException.InvalidConfig($"invalid port {portValue} (must be between 1 and 65535)");

        if (v.UnderlayDevice is { Length: > 0 } dev && Names.InterfaceNameProblem(dev) is { } devProblem)
            throw CniException.InvalidConfig($"invalid underlayDevice \"{dev}\": {devProblem}");

        IPAddress? local = null;
        if (!string.IsNullOrEmpty(v.LocalIP))
        {
            local = ParseAddress(v.LocalIP, "localIP");
            if (IsMulticast(local) || IPAddress.Any.Equals(local) || IPAddress.IPv6Any.Equals(local) || IPAddress.IsLoopback(local))
                throw CniException.InvalidConfig($"localIP {local} is not a unicast host address");
        }

        bool hasPeers = v.Peers is { Count: > 0 };
        bool hasGroup = !string.IsNullOrEmpty(v.Group);
        if (hasPeers && hasGroup)
            throw CniException.InvalidConfig("peers and group cannot both be set: flood either to the listed peers or to the multicast group");

        if (hasGroup && v.Cluster is not null)
            throw CniException.InvalidConfig("cluster and group cannot both be set: cluster mode floods to the registered hosts");

        IPAddress? group = null;
        if (hasGroup)
        {
            group = ParseAddress(v.Group!, "group");
            if (!IsMulticast(group))
                throw CniException.InvalidConfig($"group {group} is not a multicast address");
        }

        var peers = new List<IPAddress>();
        foreach (string? text in v.Peers ?? [])
        {
            var peer = ParseAddress(text, "peers");
            if (IsMulticast(peer) || IPAddress.Any.Equals(peer) || IPAddress.IPv6Any.Equals(peer) || IPAddress.IsLoopback(peer))
                throw CniException.InvalidConfig($"peer {peer} is not a unicast host address");
            if (!peers.Contains(peer)) peers.Add(peer);
        }
        if (peers.Count > 0 && peers.Any(p => p.AddressFamily != peers[0].AddressFamily))
            throw CniException.InvalidConfig("peers mix IPv4 and IPv6 addresses; one vxlan device uses one underlay family");

        var pinned = (group ?? (peers.Count > 0 ? peers[0] : null))?.AddressFamily;
        if (local is not null && pinned is { } family && family != local.AddressFamily)
            throw CniException.InvalidConfig($"localIP {local} and the {(group is null ? "peers" : "group")} are of different address families");

        if (v.Ttl is { } ttl && (ttl < 0 || ttl > 255))
            throw CniException.InvalidConfig($"invalid ttl {ttl} (must be between 0 and 255; 0 inherits)");

        HardwareAddress? vtepMac = null;
        if (!string.IsNullOrEmpty(v.VtepMac))
        {
            if (!HardwareAddress.TryParse(v.VtepMac, out var mac))
                throw CniException.InvalidConfig($"invalid vtepMac \"{v.VtepMac}\"");
            if (mac.IsZero || mac.IsMulticast)
                throw CniException.InvalidConfig($"vtepMac \"{v.VtepMac}\" is not a unicast address");
            vtepMac = mac;
        }

        if (v.Cluster is { Mode: OverlayMode.Routed })
            CheckRouted(b, net, hasPeers);

        // The bridge underneath: its own rules, with our default name.
        if (string.IsNullOrEmpty(b.BridgeName))
            b.BridgeName = DefaultBridgeName(vni);
        var bridge = BridgeOptions.From(b, net, args);

        return new VxlanOptions
        {
            Vni = vni,
            Port = (ushort)portValue,
            UnderlayDevice = string.IsNullOrEmpty(v.UnderlayDevice) ? null : v.UnderlayDevice,
            LocalIP = local,
            Peers = peers,
            Group = group,
            Learning = v.Learning,
            Mtu = b.Mtu > 0 ? b.Mtu : null,
            VtepMac = vtepMac,
            DisableTxChecksumOffload = v.DisableTxChecksumOffload,
            Ttl = (byte)(v.Ttl ?? 0),
            Bridge = bridge,
            Cluster = v.Cluster?.WithNode(Environment.MachineName),
        };
    }

    /// <summary>
    /// What routed mode needs, checked before anything changes: the bridge carries the pool's gateway (it answers the
    /// containers' ARP for remote addresses by proxy and routes); the addresses come from cluster-ipam, whose blocks are the
    /// routes; IPv4 pools only (Linux answers NDP by proxy per address, not per prefix, so a container could not resolve a
    /// remote IPv6 address on its on-link prefix); no <c>peers</c> (a peer has no registration: no MAC, no blocks to route).
    /// </summary>
    private static void CheckRouted(BridgeConfig b, NetworkConfig net, bool hasPeers)
    {
        if (hasPeers)
            throw CniException.InvalidConfig("vxlan cluster mode 'routed' does not use peers: every host is found through the cluster store; remove peers or use mode 'l2'");
        if (!b.ActsAsGateway)
            throw CniException.InvalidConfig("vxlan cluster mode 'routed' needs 'isGateway': true: the bridge carries the pool's gateway and routes to the other hosts' blocks");
        if (net.IpamType != "cluster-ipam")
            throw CniException.InvalidConfig($"vxlan cluster mode 'routed' routes cluster-ipam's blocks: ipam.type must be 'cluster-ipam', not '{net.IpamType}'");
        foreach (var (name, value) in net.Ipam?.Extra ?? [])
        {
            if (!string.Equals(name, "pools", StringComparison.OrdinalIgnoreCase) || value.ValueKind != System.Text.Json.JsonValueKind.Array) continue;
            foreach (var pool in value.EnumerateArray())
            {
                if (pool.ValueKind != System.Text.Json.JsonValueKind.Object) continue;
                foreach (var f in pool.EnumerateObject())
                {
                    if (string.Equals(f.Name, "subnet", StringComparison.OrdinalIgnoreCase) && f.Value.ValueKind == System.Text.Json.JsonValueKind.String
                        && f.Value.GetString() is { } subnet && subnet.Contains(':'))
                        throw CniException.InvalidConfig(
                            $"vxlan cluster mode 'routed' is IPv4 only: pool {subnet} is IPv6 (Linux answers neighbour solicitations by proxy per address, not per prefix); use mode 'l2' for IPv6");
                }
            }
        }
    }

    private static IPAddress ParseAddress(string? text, string field)
    {
        // IPAddress.TryParse accepts forms like "1" or "0x1"; insist on a dotted quad or an IPv6 literal.
        if (text is null || !IPAddress.TryParse(text, out var address) || (address.AddressFamily == AddressFamily.InterNetwork && text.Count(c => c == '.') != 3)
            || text.Contains('%') || text.Contains('/'))
            throw CniException.InvalidConfig($"invalid address \"{text}\" in {field}");
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }

    internal static bool IsMulticast(IPAddress a) =>
        a.AddressFamily == AddressFamily.InterNetwork ? (a.GetAddressBytes()[0] & 0xF0) == 0xE0 : a.IsIPv6Multicast;
}
