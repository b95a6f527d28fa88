using System.Text.Json;
using Cni.Spec;

namespace Cni.Ipam;

// Wire shapes of the network configuration as host-local reads it. Only what host-local needs; every other
// field is ignored.

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
    /// <summary>Additive: addresses and CIDRs never handed out. A null item is kept (and refused as an entry).</summary>
    public List<string?>? Exclude { get; set; }
}

/// <summary>The <c>ipam</c> section; its own range fields are the legacy single range.</summary>
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
    public List<string?>? Ips { get; set; }
}

internal sealed class RuntimeConfigJson
{
    public List<string?>? Ips { get; set; }
    public List<List<RangeJson>?>? IpRanges { get; set; }
}

/// <summary>
/// Reads the network configuration into the wire shapes, by hand over <see cref="JsonRead"/>. As Go's
/// encoding/json (and the serializer's case-insensitive mode this replaces): names match ignoring case, the last
/// property matching a field wins, unknown fields are ignored; plain RFC 8259 JSON (no comments, no trailing
/// commas); numbers only as JSON numbers. A value of the wrong kind throws <see cref="JsonException"/> naming
/// its path.
/// </summary>
internal static class ConfigJson
{
    /// <summary>The whole configuration; null for a JSON null document.</summary>
    public static NetworkConfigJson? Read(ReadOnlySpan<byte> json) =>
        JsonRead.ReadDocument(json, lenient: false, static root => root.ValueKind switch
        {
            JsonValueKind.Object => Network(root),
            JsonValueKind.Null => null,
            _ => throw JsonRead.Mismatch("$", "an object", root),
        });

    private static NetworkConfigJson Network(JsonElement obj)
    {
        var n = new NetworkConfigJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            if (NetworkFields.Match(p) is not { } field) continue;
            var (v, at) = (p.Value, $"$.{name}");
            switch (field)
            {
                case "name": n.Name = JsonRead.String(v, at); break;
                case "cniVersion": n.CniVersion = JsonRead.String(v, at); break;
                case "ipam": n.Ipam = Ipam(v, at); break;
                case "args": n.Args = Args(v, at); break;
                case "runtimeConfig": n.RuntimeConfig = RuntimeConfig(v, at); break;
            }
        }
        return n;
    }

    private static IpamJson? Ipam(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var ipam = new IpamJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            if (IpamFields.Match(p) is not { } field) continue;
            var (v, at) = (p.Value, $"{path}.{name}");
            switch (field)
            {
                case "type": ipam.Type = JsonRead.String(v, at); break;
                case "ranges": ipam.Ranges = JsonRead.List(v, at, RangeSet); break;
                case "routes": ipam.Routes = JsonRead.List(v, at, Route); break;
                case "dataDir": ipam.DataDir = JsonRead.String(v, at); break;
                case "resolvConf": ipam.ResolvConf = JsonRead.String(v, at); break;
                case "lockTimeoutSeconds": ipam.LockTimeoutSeconds = JsonRead.NullableDouble(v, at); break;
                default: RangeField(ipam, field, v, at); break;
            }
        }
        return ipam;
    }

    /// <summary>A range set: a list of ranges, or null.</summary>
    private static List<RangeJson>? RangeSet(JsonElement e, string path) => JsonRead.List(e, path, Range);

    /// <summary>A range; null reads as an empty range (Go's zero value), which then lacks its subnet.</summary>
    private static RangeJson Range(JsonElement e, string path)
    {
        var range = new RangeJson();
        if (JsonRead.Object(e, path) is not { } obj) return range;
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            if (RangeFields.Match(p) is { } field)
                RangeField(range, field, p.Value, $"{path}.{name}");
        }
        return range;
    }

    private static void RangeField(RangeJson range, string field, JsonElement v, string at)
    {
        switch (field)
        {
            case "subnet": range.Subnet = JsonRead.String(v, at); break;
            case "rangeStart": range.RangeStart = JsonRead.String(v, at); break;
            case "rangeEnd": range.RangeEnd = JsonRead.String(v, at); break;
            case "gateway": range.Gateway = JsonRead.String(v, at); break;
            case "exclude": range.Exclude = JsonRead.NullableStringList(v, at); break;
        }
    }

    private static RouteJson? Route(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var route = new RouteJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            switch (RouteFields.Match(p))
            {
                case "dst": route.Dst = JsonRead.String(p.Value, $"{path}.{name}"); break;
                case "gw": route.Gw = JsonRead.String(p.Value, $"{path}.{name}"); break;
            }
        }
        return route;
    }

    private static ArgsJson? Args(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var args = new ArgsJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            if (ArgsFields.Match(p) is not null) args.Cni = CniArgs(p.Value, $"{path}.{name}");
        }
        return args;
    }

    private static CniArgsJson? CniArgs(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var cni = new CniArgsJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            if (CniArgsFields.Match(p) is not null) cni.Ips = JsonRead.NullableStringList(p.Value, $"{path}.{name}");
        }
        return cni;
    }

    private static RuntimeConfigJson? RuntimeConfig(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var runtime = new RuntimeConfigJson();
        foreach (var p in obj.EnumerateObject())
        {
            string? name = JsonRead.PropertyName(p);
            switch (RuntimeConfigFields.Match(p))
            {
                case "ips": runtime.Ips = JsonRead.NullableStringList(p.Value, $"{path}.{name}"); break;
                case "ipRanges": runtime.IpRanges = JsonRead.List(p.Value, $"{path}.{name}", RangeSet); break;
            }
        }
        return runtime;
    }

    // The fields of each object shape, matched as Go's encoding/json matches keys (JsonFields).
    private static readonly JsonFields NetworkFields = new("name", "cniVersion", "ipam", "args", "runtimeConfig");
    private static readonly JsonFields IpamFields = new("type", "ranges", "routes", "dataDir", "resolvConf", "lockTimeoutSeconds", "subnet", "rangeStart", "rangeEnd", "gateway", "exclude");
    private static readonly JsonFields RangeFields = new("subnet", "rangeStart", "rangeEnd", "gateway", "exclude");
    private static readonly JsonFields RouteFields = new("dst", "gw");
    private static readonly JsonFields ArgsFields = new("cni");
    private static readonly JsonFields CniArgsFields = new("ips");
    private static readonly JsonFields RuntimeConfigFields = new("ips", "ipRanges");
}
