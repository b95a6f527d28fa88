namespace Cni.Spec;

/// <summary>
/// A CNI result in the newest form (spec 1.0.0/1.1.0, whose types are the same). Plugins always build
/// this form; <see cref="ResultCodec"/> converts to the caller's version only when printing, and from
/// older versions when reading a prevResult or an IPAM plugin's answer.
/// </summary>
public sealed class Result
{
    public string? CniVersion { get; set; }
    public List<Interface>? Interfaces { get; set; }
    public List<IPConfig>? IPs { get; set; }
    public List<Route>? Routes { get; set; }
    public Dns? Dns { get; set; }

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
    public string Name { get; set; } = "";
    public string? Mac { get; set; }
    public int? Mtu { get; set; }
    public string? Sandbox { get; set; }
    public string? SocketPath { get; set; }
    public string? PciID { get; set; }
}

public sealed class IPConfig
{
    /// <summary>Index into <see cref="Result.Interfaces"/>.</summary>
    public int? Interface { get; set; }
    /// <summary>Address with prefix length, "10.1.0.5/16".</summary>
    public string Address { get; set; } = "";
    public string? Gateway { get; set; }

    public IPPrefix Prefix => IPPrefix.Parse(Address);
    public bool IsV4 => Address.IndexOf(':') < 0;
}

public sealed class Route
{
    public string Dst { get; set; } = "";
    public string? Gw { get; set; }
    public int? Mtu { get; set; }
    public int? AdvMss { get; set; }
    public int? Priority { get; set; }
    public int? Table { get; set; }
    public int? Scope { get; set; }

    public bool IsV4 => Dst.IndexOf(':') < 0;
}

public sealed class Dns
{
    public List<string>? Nameservers { get; set; }
    public string? Domain { get; set; }
    public List<string>? Search { get; set; }
    public List<string>? Options { get; set; }

    public bool IsEmpty => (Nameservers is null || Nameservers.Count == 0) && string.IsNullOrEmpty(Domain)
        && (Search is null || Search.Count == 0) && (Options is null || Options.Count == 0);
}
