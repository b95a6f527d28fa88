using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Cni.Spec;

/// <summary>
/// The fields every plugin configuration shares (CNI spec 1.1.0, "Plugin configuration objects").
/// Plugin-specific fields stay in <see cref="Extra"/> and in the raw bytes a plugin decodes with its
/// own source-generated type; unknown fields are kept and ignored.
/// </summary>
public sealed class NetworkConfig
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("cniVersions")] public List<string>? CniVersions { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("disableCheck")] public bool DisableCheck { get; set; }
    [JsonPropertyName("disableGC")] public bool DisableGC { get; set; }
    [JsonPropertyName("ipam")] public IpamSection? Ipam { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }
    [JsonPropertyName("args")] public JsonObject? Args { get; set; }
    [JsonPropertyName("runtimeConfig")] public JsonObject? RuntimeConfig { get; set; }
    [JsonPropertyName("capabilities")] public Dictionary<string, bool>? Capabilities { get; set; }
    [JsonPropertyName("prevResult")] public JsonElement? PrevResult { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>The spec version of this config; a missing cniVersion means 0.1.0.</summary>
    [JsonIgnore] public string Version => string.IsNullOrEmpty(CniVersion) ? Cni.Spec.CniVersion.V010 : CniVersion;

    /// <summary>Decodes a plugin configuration; code 6 when it is not a JSON object of the right shape.</summary>
    public static NetworkConfig Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, SpecJsonContext.Default.NetworkConfig)
                ?? throw new CniException(ErrorCode.DecodingFailure, "error decoding network config: empty document");
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"error decoding network config: {e.Message}");
        }
    }

    /// <summary>The IPAM type named by the config, or null when there is no ipam section.</summary>
    [JsonIgnore] public string? IpamType => Ipam?.Type;
}


/// <summary>The <c>ipam</c> section: its type, the rest left for the IPAM plugin.</summary>
public sealed class IpamSection
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>A network configuration list (a ".conflist").</summary>
public sealed class NetworkConfigList
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("cniVersions")] public List<string>? CniVersions { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("disableCheck")] public bool DisableCheck { get; set; }
    [JsonPropertyName("disableGC")] public bool DisableGC { get; set; }
    [JsonPropertyName("plugins")] public List<JsonObject>? Plugins { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    public static NetworkConfigList Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var list = JsonSerializer.Deserialize(json, SpecJsonContext.Default.NetworkConfigList)
                ?? throw new CniException(ErrorCode.DecodingFailure, "error decoding network config list: empty document");
            if (list.Plugins is null || list.Plugins.Count == 0)
                throw CniException.InvalidConfig("network config list has no plugins");
            return list;
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"error decoding network config list: {e.Message}");
        }
    }
}
