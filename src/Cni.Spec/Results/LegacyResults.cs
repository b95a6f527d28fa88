using System.Text.Json.Serialization;

namespace Cni.Spec;

/// <summary>The result as spec 0.3.0, 0.3.1 and 0.4.0 write it: each IP carries its "version".</summary>
public sealed class Result04x
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("interfaces")] public List<Interface04x>? Interfaces { get; set; }
    [JsonPropertyName("ips")] public List<IPConfig04x>? IPs { get; set; }
    [JsonPropertyName("routes")] public List<Route04x>? Routes { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }
}

public sealed class Interface04x
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("mac")] public string? Mac { get; set; }
    [JsonPropertyName("sandbox")] public string? Sandbox { get; set; }
}

public sealed class IPConfig04x
{
    [JsonPropertyName("version")] public string Version { get; set; } = "";
    [JsonPropertyName("interface")] public int? Interface { get; set; }
    [JsonPropertyName("address")] public string Address { get; set; } = "";
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
}

/// <summary>Routes before 1.0.0 had only a destination and a gateway.</summary>
public sealed class Route04x
{
    [JsonPropertyName("dst")] public string Dst { get; set; } = "";
    [JsonPropertyName("gw")] public string? Gw { get; set; }
}

/// <summary>The result as spec 0.1.0 and 0.2.0 write it: one IPv4 and one IPv6 configuration.</summary>
public sealed class Result02x
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("ip4")] public IPConfig02x? IP4 { get; set; }
    [JsonPropertyName("ip6")] public IPConfig02x? IP6 { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }
}

public sealed class IPConfig02x
{
    [JsonPropertyName("ip")] public string IP { get; set; } = "";
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }
    [JsonPropertyName("routes")] public List<Route04x>? Routes { get; set; }
}

/// <summary>The error object of every spec version.</summary>
public sealed class ErrorResult
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("code")] public int Code { get; set; }
    [JsonPropertyName("msg")] public string Msg { get; set; } = "";
    [JsonPropertyName("details")] public string? Details { get; set; }
}

/// <summary>The answer to VERSION.</summary>
public sealed class VersionResult
{
    [JsonPropertyName("cniVersion")] public string CniVersion { get; set; } = "";
    [JsonPropertyName("supportedVersions")] public string[] SupportedVersions { get; set; } = [];
}
