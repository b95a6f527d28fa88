namespace Cni.Spec;

/// <summary>The result as spec 0.3.0, 0.3.1 and 0.4.0 write it: each IP carries its "version".</summary>
public sealed class Result04x
{
    public string? CniVersion { get; set; }
    public List<Interface04x>? Interfaces { get; set; }
    public List<IPConfig04x>? IPs { get; set; }
    public List<Route04x>? Routes { get; set; }
    public Dns? Dns { get; set; }
}

public sealed class Interface04x
{
    public string Name { get; set; } = "";
    public string? Mac { get; set; }
    public string? Sandbox { get; set; }
}

public sealed class IPConfig04x
{
    public string Version { get; set; } = "";
    public int? Interface { get; set; }
    public string Address { get; set; } = "";
    public string? Gateway { get; set; }
}

/// <summary>Routes before 1.0.0 had only a destination and a gateway.</summary>
public sealed class Route04x
{
    public string Dst { get; set; } = "";
    public string? Gw { get; set; }
}

/// <summary>The result as spec 0.1.0 and 0.2.0 write it: one IPv4 and one IPv6 configuration.</summary>
public sealed class Result02x
{
    public string? CniVersion { get; set; }
    public IPConfig02x? IP4 { get; set; }
    public IPConfig02x? IP6 { get; set; }
    public Dns? Dns { get; set; }
}

public sealed class IPConfig02x
{
    public string IP { get; set; } = "";
    public string? Gateway { get; set; }
    public List<Route04x>? Routes { get; set; }
}

/// <summary>The error object of every spec version.</summary>
public sealed class ErrorResult
{
    public string? CniVersion { get; set; }
    public int Code { get; set; }
    public string Msg { get; set; } = "";
    public string? Details { get; set; }
}

/// <summary>The answer to VERSION.</summary>
public sealed class VersionResult
{
    public string CniVersion { get; set; } = "";
    public string[] SupportedVersions { get; set; } = [];
}
