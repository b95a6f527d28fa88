using System.Text.Json;
using System.Text.Json.Serialization;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// The bridge plugin's own fields, with the reference plugin's names and defaults, plus the additive
/// Docker-style <c>isolation</c> and <c>internal</c>. Decoded from the raw config bytes with
/// <see cref="BridgeJsonContext"/>; the shared fields (name, ipam, dns, prevResult) come from
/// <see cref="NetworkConfig"/>.
/// </summary>
public sealed class BridgeConfig
{
    public const string DefaultBridgeName = "cni0";

    [JsonPropertyName("bridge")] public string? BridgeName { get; set; }
    [JsonPropertyName("isGateway")] public bool IsGateway { get; set; }
    [JsonPropertyName("isDefaultGateway")] public bool IsDefaultGateway { get; set; }
    [JsonPropertyName("forceAddress")] public bool ForceAddress { get; set; }
    [JsonPropertyName("ipMasq")] public bool IPMasq { get; set; }
    /// <summary>The reference's <c>ipMasqBackend</c> ("iptables" or "nftables"); we always use nftables and accept either.</summary>
    [JsonPropertyName("ipMasqBackend")] public string? IPMasqBackend { get; set; }
    [JsonPropertyName("mtu")] public int Mtu { get; set; }
    [JsonPropertyName("hairpinMode")] public bool HairpinMode { get; set; }
    [JsonPropertyName("promiscMode")] public bool PromiscMode { get; set; }
    [JsonPropertyName("vlan")] public int Vlan { get; set; }
    [JsonPropertyName("vlanTrunk")] public List<VlanTrunk>? VlanTrunk { get; set; }
    /// <summary>Defaults to true, as in the reference.</summary>
    [JsonPropertyName("preserveDefaultVlan")] public bool PreserveDefaultVlan { get; set; } = true;
    [JsonPropertyName("macspoofchk")] public bool MacSpoofCheck { get; set; }
    [JsonPropertyName("enabledad")] public bool EnableDad { get; set; }
    [JsonPropertyName("disableContainerInterface")] public bool DisableContainerInterface { get; set; }
    [JsonPropertyName("portIsolation")] public bool PortIsolation { get; set; }

    /// <summary>Docker's <c>enable_icc=false</c>: containers on the bridge reach only the gateway and the outside.</summary>
    [JsonPropertyName("isolation")] public bool Isolation { get; set; }
    /// <summary>Docker's <c>--internal</c>: no masquerade, no route out, forwarding between the bridge and other interfaces dropped.</summary>
    [JsonPropertyName("internal")] public bool Internal { get; set; }

    [JsonPropertyName("args")] public BridgeArgsSection? Args { get; set; }
    [JsonPropertyName("runtimeConfig")] public BridgeRuntimeConfig? RuntimeConfig { get; set; }

    [JsonIgnore] public string Bridge => string.IsNullOrEmpty(BridgeName) ? DefaultBridgeName : BridgeName;

    /// <summary>The bridge carries the gateway address: <c>isGateway</c>, implied by <c>isDefaultGateway</c>.</summary>
    [JsonIgnore] public bool ActsAsGateway => IsGateway || IsDefaultGateway;

    /// <summary>Bridge ports are isolated from each other (<c>portIsolation</c> or <c>isolation</c>).</summary>
    [JsonIgnore] public bool IsolatePorts => PortIsolation || Isolation;

    public static BridgeConfig Parse(ReadOnlySpan<byte> json) => PluginConfig.Parse(json, BridgeJsonContext.Default.BridgeConfig);
}

public sealed class VlanTrunk
{
    [JsonPropertyName("minID")] public int? MinId { get; set; }
    [JsonPropertyName("maxID")] public int? MaxId { get; set; }
    [JsonPropertyName("id")] public int? Id { get; set; }
}

public sealed class BridgeArgsSection
{
    [JsonPropertyName("cni")] public BridgeCniArgs? Cni { get; set; }
}

public sealed class BridgeCniArgs
{
    [JsonPropertyName("mac")] public string? Mac { get; set; }
}

public sealed class BridgeRuntimeConfig
{
    [JsonPropertyName("mac")] public string? Mac { get; set; }
}

[JsonSourceGenerationOptions(
    // Read-only: metadata alone, no serialize handlers (and their encoded property names) to build at start-up.
    GenerationMode = JsonSourceGenerationMode.Metadata,
    AllowTrailingCommas = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(BridgeConfig))]
internal partial class BridgeJsonContext : JsonSerializerContext
{
}
