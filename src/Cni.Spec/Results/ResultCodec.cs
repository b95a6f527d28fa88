using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// Reads and writes results in any spec version. Conversion goes through the newest form, pair by pair
/// as the reference libcni converts: 0.1.0/0.2.0 ⇄ 0.3.x/0.4.0 ⇄ 1.x. JSON is read from a JsonDocument and
/// written with a Utf8JsonWriter by hand (ResultCodec.Read.cs, ResultCodec.Write.cs): no serializer metadata
/// to build in a short-lived plugin.
/// </summary>
public static partial class ResultCodec
{
    /// <summary>Decodes a result written in <paramref name="version"/> (or, if null, the version it names).</summary>
    public static Result Parse(ReadOnlySpan<byte> json, string? version = null)
    {
        if (version is not null) RequireSupported(version);
        try
        {
            var root = JsonRead.Parse(json.ToArray()).RootElement;
            return Read(root, version ?? VersionOf(root) ?? CniVersion.V010);
        }
        catch (JsonException e)
        {
            throw DecodingFailure(e);
        }
    }

    /// <summary>Decodes a result already parsed (a config's prevResult), written in <paramref name="version"/>.</summary>
    public static Result Parse(JsonElement element, string version)
    {
        RequireSupported(version);
        try
        {
            return Read(element, version);
        }
        catch (JsonException e)
        {
            throw DecodingFailure(e);
        }
    }

    private static Result Read(JsonElement root, string version)
    {
        RequireSupported(version);
        if (root.ValueKind == JsonValueKind.Null)
            throw new CniException(ErrorCode.DecodingFailure, "failed to decode result: empty document");
        var obj = JsonRead.RequiredObject(root, "$");
        Result result = CniVersion.FamilyOf(version) switch
        {
            ResultFamily.V02x => From02x(Read02x(obj, "$")),
            ResultFamily.V04x => From04x(Read04x(obj, "$")),
            _ => Read1x(obj, "$"),
        };
        result.CniVersion = CniVersion.Current;
        return result;
    }

    private static void RequireSupported(string version)
    {
        if (!CniVersion.IsSupported(version))
            throw new CniException(ErrorCode.IncompatibleVersion, $"unsupported result version \"{version}\"");
    }

    private static CniException DecodingFailure(JsonException e) =>
        new(ErrorCode.DecodingFailure, $"failed to decode result: {e.Message}");

    /// <summary>Encodes <paramref name="result"/> in <paramref name="version"/>; code 1 when it cannot be expressed there.</summary>
    public static byte[] Serialize(Result result, string version)
    {
        RequireSupported(version);
        switch (CniVersion.FamilyOf(version))
        {
            case ResultFamily.V02x:
                return Write(To02x(result, version), Write02x);
            case ResultFamily.V04x:
                return Write(To04x(result, version), Write04x);
            default:
                var copy = new Result
                {
                    CniVersion = version,
                    Interfaces = NullIfEmpty(result.Interfaces),
                    IPs = NullIfEmpty(result.IPs),
                    Routes = NullIfEmpty(result.Routes),
                    Dns = result.Dns is { IsEmpty: false } ? result.Dns : null,
                };
                return Write(copy, Write1x);
        }
    }

    /// <summary>Converts a result to another version and back into the newest form, as a chained plugin sees it.</summary>
    public static Result RoundTrip(Result result, string version) => Parse(Serialize(result, version), version);

    private static List<T>? NullIfEmpty<T>(List<T>? list) => list is { Count: > 0 } ? list : null;

    private static Dns? DnsOrNull(Dns? dns) => dns is { IsEmpty: false } ? dns : null;

    internal static Result From04x(Result04x r) => new()
    {
        Interfaces = r.Interfaces?.Select(i => new Interface { Name = i.Name, Mac = i.Mac, Sandbox = i.Sandbox }).ToList(),
        IPs = r.IPs?.Select(ip => new IPConfig { Interface = ip.Interface, Address = ip.Address, Gateway = ip.Gateway }).ToList(),
        Routes = r.Routes?.Select(rt => new Route { Dst = rt.Dst, Gw = rt.Gw }).ToList(),
        Dns = DnsOrNull(r.Dns),
    };

    internal static Result04x To04x(Result r, string version) => new()
    {
        CniVersion = version,
        Interfaces = NullIfEmpty(r.Interfaces?.Select(i => new Interface04x { Name = i.Name, Mac = i.Mac, Sandbox = i.Sandbox }).ToList()),
        IPs = NullIfEmpty(r.IPs?.Select(ip => new IPConfig04x
        {
            Version = ip.IsV4 ? "4" : "6",
            Interface = ip.Interface,
            Address = ip.Address,
            Gateway = ip.Gateway,
        }).ToList()),
        Routes = NullIfEmpty(r.Routes?.Select(rt => new Route04x { Dst = rt.Dst, Gw = rt.Gw }).ToList()),
        Dns = DnsOrNull(r.Dns),
    };

    internal static Result From02x(Result02x r)
    {
        var result = new Result { Dns = DnsOrNull(r.Dns) };
        foreach (var ipc in new[] { r.IP4, r.IP6 })
        {
            if (ipc is null) continue;
            (result.IPs ??= []).Add(new IPConfig { Address = ipc.IP, Gateway = ipc.Gateway });
            if (ipc.Routes is null) continue;
            foreach (var rt in ipc.Routes)
                (result.Routes ??= []).Add(new Route { Dst = rt.Dst, Gw = rt.Gw });
        }
        return result;
    }

    internal static Result02x To02x(Result r, string version)
    {
        var result = new Result02x { CniVersion = version, Dns = DnsOrNull(r.Dns) };
        foreach (var ip in r.IPs ?? [])
        {
            // 0.2.0 and earlier carry one address per family: the first of each.
            if (ip.IsV4 && result.IP4 is null) result.IP4 = new IPConfig02x { IP = ip.Address, Gateway = ip.Gateway };
            else if (!ip.IsV4 && result.IP6 is null) result.IP6 = new IPConfig02x { IP = ip.Address, Gateway = ip.Gateway };
        }
        foreach (var rt in r.Routes ?? [])
        {
            var target = rt.IsV4 ? result.IP4 : result.IP6;
            if (target is null) continue;
            (target.Routes ??= []).Add(new Route04x { Dst = rt.Dst, Gw = rt.Gw });
        }
        if (result.IP4 is null && result.IP6 is null)
            throw new CniException(ErrorCode.IncompatibleVersion, "cannot convert: no valid IP addresses",
                $"a result for CNI version {version} needs at least one IP address");
        return result;
    }
}
