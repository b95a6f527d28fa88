using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cni.Spec;

/// <summary>
/// The fields every plugin configuration shares (CNI spec 1.1.0, "Plugin configuration objects").
/// Plugin-specific fields stay in <see cref="Extra"/> and in the raw bytes a plugin decodes itself;
/// unknown fields are kept and ignored. Read by hand from a JsonDocument (<see cref="JsonRead"/>) that is
/// never disposed: <see cref="Extra"/>, <see cref="Args"/>, <see cref="RuntimeConfig"/> and
/// <see cref="PrevResult"/> point into it.
/// </summary>
public sealed class NetworkConfig
{
    public string? CniVersion { get; set; }
    public List<string>? CniVersions { get; set; }
    public string? Name { get; set; }
    public string? Type { get; set; }
    public bool DisableCheck { get; set; }
    public bool DisableGC { get; set; }
    public IpamSection? Ipam { get; set; }
    public Dns? Dns { get; set; }
    /// <summary>The <c>args</c> object (always an object when set).</summary>
    public JsonElement? Args { get; set; }
    /// <summary>The <c>runtimeConfig</c> object (always an object when set).</summary>
    public JsonElement? RuntimeConfig { get; set; }
    public Dictionary<string, bool>? Capabilities { get; set; }
    /// <summary><c>prevResult</c> as it was sent (any JSON value but null).</summary>
    public JsonElement? PrevResult { get; set; }
    /// <summary>Every other field, by its exact name; null when there is none.</summary>
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>The spec version of this config; a missing cniVersion means 0.1.0.</summary>
    public string Version => string.IsNullOrEmpty(CniVersion) ? Cni.Spec.CniVersion.V010 : CniVersion;

    /// <summary>The IPAM type named by the config, or null when there is no ipam section.</summary>
    public string? IpamType => Ipam?.Type;

    /// <summary>
    /// Decodes a plugin configuration; code 6 when it is not a JSON object of the right shape. Field names are
    /// case-sensitive; comments and trailing commas are accepted.
    /// </summary>
    public static NetworkConfig Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var root = JsonRead.Parse(json.ToArray()).RootElement;
            if (root.ValueKind == JsonValueKind.Null)
                throw new CniException(ErrorCode.DecodingFailure, "error decoding network config: empty document");
            return Read(JsonRead.RequiredObject(root, "$"));
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"error decoding network config: {e.Message}");
        }
    }

    private static readonly JsonFields Fields = new("cniVersion", "cniVersions", "name", "type", "disableCheck", "disableGC", "ipam", "dns", "args",
        "runtimeConfig", "capabilities", "prevResult");

    private static NetworkConfig Read(JsonElement obj)
    {
        var c = new NetworkConfig();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            string name = JsonRead.Name(p, "$");
            switch (Fields.Match(name))
            {
                case "cniVersion": c.CniVersion = JsonRead.String(v, "$.cniVersion"); break;
                // Null items stay null, as the serializer kept them.
                case "cniVersions": c.CniVersions = JsonRead.NullableStringList(v, "$.cniVersions")!; break;
                case "name": c.Name = JsonRead.String(v, "$.name"); break;
                case "type": c.Type = JsonRead.String(v, "$.type"); break;
                case "disableCheck": c.DisableCheck = JsonRead.Bool(v, "$.disableCheck"); break;
                case "disableGC": c.DisableGC = JsonRead.Bool(v, "$.disableGC"); break;
                case "ipam": c.Ipam = IpamSection.Read(v, "$.ipam"); break;
                case "dns": c.Dns = ResultCodec.ReadDns(v, "$.dns"); break;
                case "args": c.Args = JsonRead.Object(v, "$.args"); break;
                case "runtimeConfig": c.RuntimeConfig = JsonRead.Object(v, "$.runtimeConfig"); break;
                case "capabilities": c.Capabilities = JsonRead.BoolMap(v, "$.capabilities"); break;
                case "prevResult": c.PrevResult = JsonRead.IsNull(v) ? null : v; break;
                default: (c.Extra ??= new(StringComparer.Ordinal))[name] = v; break;
            }
        }
        return c;
    }
}

/// <summary>The <c>ipam</c> section: its type, the rest left for the IPAM plugin.</summary>
public sealed class IpamSection
{
    public string? Type { get; set; }
    /// <summary>Every other field of the section; null when there is none.</summary>
    public Dictionary<string, JsonElement>? Extra { get; set; }

    internal static IpamSection? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var ipam = new IpamSection();
        foreach (var p in obj.EnumerateObject())
        {
            string name = JsonRead.Name(p, path);
            if (JsonFields.Selects(p, "type")) ipam.Type = JsonRead.String(p.Value, path + ".type");
            else (ipam.Extra ??= new(StringComparer.Ordinal))[name] = p.Value;
        }
        return ipam;
    }
}

/// <summary>A network configuration list (a ".conflist").</summary>
public sealed class NetworkConfigList
{
    public string? CniVersion { get; set; }
    public List<string>? CniVersions { get; set; }
    public string? Name { get; set; }
    public bool DisableCheck { get; set; }
    public bool DisableGC { get; set; }
    /// <summary>The plugin configurations (a null item stays null, as the serializer kept it).</summary>
    public List<JsonObject>? Plugins { get; set; }
    /// <summary>Every other field; null when there is none.</summary>
    public Dictionary<string, JsonElement>? Extra { get; set; }

    /// <summary>Decodes a configuration list; code 6 when it is malformed, code 7 when it has no plugins.</summary>
    public static NetworkConfigList Parse(ReadOnlySpan<byte> json)
    {
        NetworkConfigList list;
        try
        {
            var root = JsonRead.Parse(json.ToArray()).RootElement;
            if (root.ValueKind == JsonValueKind.Null)
                throw new CniException(ErrorCode.DecodingFailure, "error decoding network config list: empty document");
            list = Read(JsonRead.RequiredObject(root, "$"));
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"error decoding network config list: {e.Message}");
        }
        if (list.Plugins is null || list.Plugins.Count == 0)
            throw CniException.InvalidConfig("network config list has no plugins");
        return list;
    }

    private static readonly JsonFields Fields = new("cniVersion", "cniVersions", "name", "disableCheck", "disableGC", "plugins");

    private static NetworkConfigList Read(JsonElement obj)
    {
        var l = new NetworkConfigList();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            string name = JsonRead.Name(p, "$");
            switch (Fields.Match(name))
            {
                case "cniVersion": l.CniVersion = JsonRead.String(v, "$.cniVersion"); break;
                case "cniVersions": l.CniVersions = JsonRead.NullableStringList(v, "$.cniVersions")!; break;
                case "name": l.Name = JsonRead.String(v, "$.name"); break;
                case "disableCheck": l.DisableCheck = JsonRead.Bool(v, "$.disableCheck"); break;
                case "disableGC": l.DisableGC = JsonRead.Bool(v, "$.disableGC"); break;
                case "plugins":
                    l.Plugins = JsonRead.List(v, "$.plugins", static (x, path) =>
                        JsonRead.Object(x, path) is { } plugin ? JsonObject.Create(plugin)! : null!);
                    break;
                default: (l.Extra ??= new(StringComparer.Ordinal))[name] = v; break;
            }
        }
        return l;
    }
}
