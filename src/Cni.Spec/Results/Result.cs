using System.Text.Json.Serialization;

namespace Cni.Spec;

/// <summary>
/// A CNI result in the newest form (spec 1.0.0/1.1.0, whose types are the same). Plugins always build
/// this form; <see cref="ResultCodec"/> converts to the caller's version only when printing, and from
/// older versions when reading a prevResult or an IPAM plugin's answer.
/// </summary>
public sealed class Result
{
    [JsonPropertyName("cniVersion")] public string? CniVersion { get; set; }
    [JsonPropertyName("interfaces")] public List<Interface>? Interfaces { get; set; }
    [JsonPropertyName("ips")] public List<IPConfig>? IPs { get; set; }
    [JsonPropertyName("routes")] public List<Route>? Routes { get; set; }
    [JsonPropertyName("dns")] public Dns? Dns { get; set; }

    /// <summary>Adds an interface and returns its index, for <see cref="IPConfig.Interface"/>.</summary>
    public int AddInterface(Interface iface)
    {
        Interfaces ??= [];
        Interfaces.Add(iface);
        return Interfaces.Count - 1;
    }
}

public sealed class Interface
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("mac")] public string? Mac { get; set; }
    [JsonPropertyName("mtu")] public int? Mtu { get; set; }
    [JsonPropertyName("sandbox")] public string? Sandbox { get; set; }
    [JsonPropertyName("socketPath")] public string? SocketPath { get; set; }
    [JsonPropertyName("pciID")] public string? PciID { get; set; }
}

public sealed class IPConfig
{
    /// <summary>Index into <see cref="Result.Interfaces"/>.</summary>
    [JsonPropertyName("interface")] public int? Interface { get; set; }
    /// <summary>Address with prefix length, "10.1.0.5/16".</summary>
    [JsonPropertyName("address")] public string Address { get; set; } = "";
    [JsonPropertyName("gateway")] public string? Gateway { get; set; }

    [JsonIgnore] public IPPrefix Prefix => IPPrefix.Parse(Address);
    [JsonIgnore] public bool IsV4 => Address.IndexOf(':') < 0;
}

public sealed class Route
{
    [JsonPropertyName("dst")] public string Dst { get; set; } = "";
    [JsonPropertyName("gw")] public string? Gw { get; set; }
    [JsonPropertyName("mtu")] public int? Mtu { get; set; }
    [JsonPropertyName("advmss")] public int? AdvMss { get; set; }
    [JsonPropertyName("priority")] public int? Priority { get; set; }
    [JsonPropertyName("table")] public int? Table { get; set; }
    [JsonPropertyName("scope")] public int? Scope { get; set; }

    [JsonIgnore] public bool IsV4 => Dst.IndexOf(':') < 0;
}

public sealed class Dns
{
    [JsonPropertyName("nameservers")] public List<string>? Nameservers { get; set; }
    [JsonPropertyName("domain")] public string? Domain { get; set; }
    [JsonPropertyName("search")] public List<string>? Search { get; set; }
    [JsonPropertyName("options")] public List<string>? Options { get; set; }

    [JsonIgnore]
    public bool IsEmpty => (Nameservers is null || Nameservers.Count == 0) && string.IsNullOrEmpty(Domain)
        && (Search is null || Search.Count == 0) && (Options is null || Options.Count == 0);
}
