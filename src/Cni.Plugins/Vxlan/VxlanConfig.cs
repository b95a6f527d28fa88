using System.Text.Json;
using System.Text.Json.Serialization;
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
    [JsonPropertyName("vni")] public long? Vni { get; set; }
    /// <summary>UDP destination port; 4789 (IANA, what Docker uses) when absent.</summary>
    [JsonPropertyName("port")] public long? Port { get; set; }
    /// <summary>The interface carrying the overlay's packets; the default route's interface when absent.</summary>
    [JsonPropertyName("underlayDevice")] public string? UnderlayDevice { get; set; }
    /// <summary>The source address of the overlay's packets; the underlay device's first global address when absent.</summary>
    [JsonPropertyName("localIP")] public string? LocalIP { get; set; }
    /// <summary>Underlay addresses of the other hosts (head-end replication). Excludes <see cref="Group"/>.</summary>
    [JsonPropertyName("peers")] public List<string>? Peers { get; set; }
    /// <summary>A multicast group for flooding. Excludes <see cref="Peers"/>.</summary>
    [JsonPropertyName("group")] public string? Group { get; set; }
    /// <summary>Learn remote MACs from received packets (IFLA_VXLAN_LEARNING); off by default.</summary>
    [JsonPropertyName("learning")] public bool Learning { get; set; }
    /// <summary>The VTEP's MAC; derived from the VNI and the local address when absent.</summary>
    [JsonPropertyName("vtepMac")] public string? VtepMac { get; set; }
    /// <summary>Turn transmit checksum offload off on the vxlan device (`ethtool -K dev tx off`).</summary>
    [JsonPropertyName("disableTxChecksumOffload")] public bool DisableTxChecksumOffload { get; set; }
    /// <summary>TTL of the outer IP header; 0 (absent) inherits, as the kernel does.</summary>
    [JsonPropertyName("ttl")] public long? Ttl { get; set; }

    public static VxlanConfig Parse(ReadOnlySpan<byte> json) => PluginConfig.Parse(json, VxlanJsonContext.Default.VxlanConfig);
}

[JsonSourceGenerationOptions(
    // Read-only: metadata alone, no serialize handlers (and their encoded property names) to build at start-up.
    GenerationMode = JsonSourceGenerationMode.Metadata,
    AllowTrailingCommas = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(VxlanConfig))]
internal partial class VxlanJsonContext : JsonSerializerContext
{
}
