using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cni.Ipam;

// Wire shapes of the network configuration as host-local reads it. Only what host-local needs; every other
// field is ignored. Go's encoding/json matches keys case-insensitively, so we do too.

internal sealed class NetworkConfigJson
{
    public string? Name { get; set; }
    public string? CniVersion { get; set; }
    public IpamJson? Ipam { get; set; }
    public ArgsJson? Args { get; set; }
    public RuntimeConfigJson? RuntimeConfig { get; set; }
}

internal class RangeJson
{
    public string? Subnet { get; set; }
    public string? RangeStart { get; set; }
    public string? RangeEnd { get; set; }
    public string? Gateway { get; set; }
    /// <summary>Additive: addresses and CIDRs never handed out.</summary>
    public List<string>? Exclude { get; set; }
}

internal sealed class IpamJson : RangeJson
{
    public string? Type { get; set; }
    public List<List<RangeJson>?>? Ranges { get; set; }
    public List<RouteJson?>? Routes { get; set; }
    public string? DataDir { get; set; }
    public string? ResolvConf { get; set; }
    /// <summary>Additive: seconds to wait for the store lock before answering "try again later".</summary>
    public double? LockTimeoutSeconds { get; set; }
}

internal sealed class RouteJson
{
    public string? Dst { get; set; }
    public string? Gw { get; set; }
}

internal sealed class ArgsJson
{
    public CniArgsJson? Cni { get; set; }
}

internal sealed class CniArgsJson
{
    public List<string>? Ips { get; set; }
}

internal sealed class RuntimeConfigJson
{
    public List<string>? Ips { get; set; }
    public List<List<RangeJson>?>? IpRanges { get; set; }
}

[JsonSourceGenerationOptions(
    // Read-only: metadata alone, no serialize handlers (and their encoded property names) to build at start-up.
    GenerationMode = JsonSourceGenerationMode.Metadata,
    PropertyNameCaseInsensitive = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(NetworkConfigJson))]
internal sealed partial class IpamJsonContext : JsonSerializerContext;
