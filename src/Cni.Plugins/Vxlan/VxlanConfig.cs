using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The vxlan plugin's own fields. Every bridge option (<c>bridge</c>, <c>isGateway</c>, <c>ipMasq</c>,
/// <c>mtu</c>, ...) is read from the same document by <see cref="Bridge.BridgeConfig"/>; this type holds
/// only what the overlay adds. Numbers are read wide so out-of-range values get a clear error instead of a
/// decoding failure.
/// </summary>
public sealed class VxlanConfig
{
    /// <summary>The VXLAN network identifier, 1 to 16777215. Required.</summary>
    public long? Vni { get; set; }
    /// <summary>UDP destination port; 4789 (IANA, what Docker uses) when absent.</summary>
    public long? Port { get; set; }
    /// <summary>The interface carrying the overlay's packets; the default route's interface when absent.</summary>
    public string? UnderlayDevice { get; set; }
    /// <summary>The source address of the overlay's packets; the underlay device's first global address when absent.</summary>
    public string? LocalIP { get; set; }
    /// <summary>Underlay addresses of the other hosts (head-end replication). Excludes <see cref="Group"/>. A null item is kept (and refused as an address).</summary>
    public List<string?>? Peers { get; set; }
    /// <summary>A multicast group for flooding. Excludes <see cref="Peers"/>.</summary>
    public string? Group { get; set; }
    /// <summary>Learn remote MACs from received packets (IFLA_VXLAN_LEARNING); off by default.</summary>
    public bool Learning { get; set; }
    /// <summary>The VTEP's MAC; derived from the VNI and the local address when absent.</summary>
    public string? VtepMac { get; set; }
    /// <summary>Turn transmit checksum offload off on the vxlan device (`ethtool -K dev tx off`).</summary>
    public bool DisableTxChecksumOffload { get; set; }
    /// <summary>TTL of the outer IP header; 0 (absent) inherits, as the kernel does.</summary>
    public long? Ttl { get; set; }
    /// <summary>Cluster mode: the hosts of the overlay find each other through the cluster store (see <see cref="VxlanClusterOptions"/>).</summary>
    public VxlanClusterOptions? Cluster { get; set; }

    /// <summary>Decodes the vxlan fields of a config; code 6 on malformed JSON or a field of the wrong kind.</summary>
    public static VxlanConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("vni", "port", "underlayDevice", "localIP", "peers", "group", "learning", "vtepMac", "disableTxChecksumOffload", "ttl", "cluster");

    /// <summary>The fields of the config's root object; unknown fields are ignored, a repeated field's last value wins.</summary>
    internal static VxlanConfig Read(JsonElement root)
    {
        var c = new VxlanConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "vni": c.Vni = JsonRead.NullableInt64(v, "$.vni"); break;
                case "port": c.Port = JsonRead.NullableInt64(v, "$.port"); break;
                case "underlayDevice": c.UnderlayDevice = JsonRead.String(v, "$.underlayDevice"); break;
                case "localIP": c.LocalIP = JsonRead.String(v, "$.localIP"); break;
                case "peers": c.Peers = JsonRead.NullableStringList(v, "$.peers"); break;
                case "group": c.Group = JsonRead.String(v, "$.group"); break;
                case "learning": c.Learning = JsonRead.Bool(v, "$.learning"); break;
                case "vtepMac": c.VtepMac = JsonRead.String(v, "$.vtepMac"); break;
                case "disableTxChecksumOffload": c.DisableTxChecksumOffload = JsonRead.Bool(v, "$.disableTxChecksumOffload"); break;
                case "ttl": c.Ttl = JsonRead.NullableInt64(v, "$.ttl"); break;
                case "cluster": c.Cluster = VxlanClusterOptions.Read(v, "$.cluster"); break;
            }
        }
        return c;
    }
}
