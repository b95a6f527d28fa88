using System.Text.Json;
using System.Text.Json.Serialization;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// The macvlan plugin's own fields, with the reference plugin's names and defaults. Decoded from the raw
/// config bytes with <see cref="MacvlanJsonContext"/>; the shared fields (name, ipam, dns, prevResult) come
/// from <see cref="NetworkConfig"/>.
/// </summary>
public sealed class MacvlanConfig
{
    /// <summary>The parent link; empty means the interface of the default route (of the container's namespace with <see cref="LinkInContainer"/>).</summary>
    [JsonPropertyName("master")] public string? Master { get; set; }
    /// <summary>bridge (default), private, vepa, passthru or source.</summary>
    [JsonPropertyName("mode")] public string? Mode { get; set; }
    /// <summary>0 means the master's MTU; more than the master's is an error.</summary>
    [JsonPropertyName("mtu")] public int Mtu { get; set; }
    [JsonPropertyName("mac")] public string? Mac { get; set; }
    /// <summary>The master lives in the container's namespace, not the plugin's.</summary>
    [JsonPropertyName("linkInContainer")] public bool LinkInContainer { get; set; }
    [JsonPropertyName("runtimeConfig")] public MacvlanRuntimeConfig? RuntimeConfig { get; set; }

    public static MacvlanConfig Parse(ReadOnlySpan<byte> json) => PluginConfig.Parse(json, MacvlanJsonContext.Default.MacvlanConfig);
}

/// <summary>The <c>mac</c> capability.</summary>
public sealed class MacvlanRuntimeConfig
{
    [JsonPropertyName("mac")] public string? Mac { get; set; }
}

[JsonSourceGenerationOptions(
    // Read-only: metadata alone, no serialize handlers (and their encoded property names) to build at start-up.
    GenerationMode = JsonSourceGenerationMode.Metadata,
    AllowTrailingCommas = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(MacvlanConfig))]
internal partial class MacvlanJsonContext : JsonSerializerContext
{
}
