using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// Reads and writes results in any spec version. Conversion goes through the newest form, pair by pair
/// as the reference libcni converts: 0.1.0/0.2.0 ⇄ 0.3.x/0.4.0 ⇄ 1.x.
/// </summary>
public static class ResultCodec
{
    /// <summary>Decodes a result written in <paramref name="version"/> (or, if null, the version it names).</summary>
    public static Result Parse(ReadOnlySpan<byte> json, string? version = null)
    {
        try
        {
            version ??= PeekVersion(json) ?? CniVersion.V010;
            if (!CniVersion.IsSupported(version))
                throw new CniException(ErrorCode.IncompatibleVersion, $"unsupported result version \"{version}\"");
            Result result = CniVersion.FamilyOf(version) switch
            {
                ResultFamily.V02x => From02x(JsonSerializer.Deserialize(json, SpecJsonContext.Default.Result02x)!),
                ResultFamily.V04x => From04x(JsonSerializer.Deserialize(json, SpecJsonContext.Default.Result04x)!),
                _ => JsonSerializer.Deserialize(json, SpecJsonContext.Default.Result)!,
            };
            result.CniVersion = CniVersion.Current;
            return result;
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"failed to decode result: {e.Message}");
        }
    }

    public static Result Parse(JsonElement element, string version) =>
        Parse(System.Text.Encoding.UTF8.GetBytes(element.GetRawText()), version);

    private static string? PeekVersion(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isVersion = reader.ValueTextEquals("cniVersion"u8);
            reader.Read();
            if (isVersion && reader.TokenType == JsonTokenType.String) return reader.GetString();
            reader.Skip();
        }
        return null;
    }

    /// <summary>Encodes <paramref name="result"/> in <paramref name="version"/>; code 1 when it cannot be expressed there.</summary>
    public static byte[] Serialize(Result result, string version)
    {
        if (!CniVersion.IsSupported(version))
            throw new CniException(ErrorCode.IncompatibleVersion, $"unsupported result version \"{version}\"");
        switch (CniVersion.FamilyOf(version))
        {
            case ResultFamily.V02x:
                return JsonSerializer.SerializeToUtf8Bytes(To02x(result, version), SpecJsonWriteContext.Default.Result02x);
            case ResultFamily.V04x:
                return JsonSerializer.SerializeToUtf8Bytes(To04x(result, version), SpecJsonWriteContext.Default.Result04x);
            default:
                var copy = new Result
                {
                    CniVersion = version,
                    Interfaces = NullIfEmpty(result.Interfaces),
                    IPs = NullIfEmpty(result.IPs),
                    Routes = NullIfEmpty(result.Routes),
                    Dns = result.Dns is { IsEmpty: false } ? result.Dns : null,
                };
                return JsonSerializer.SerializeToUtf8Bytes(copy, SpecJsonWriteContext.Default.Result);
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
