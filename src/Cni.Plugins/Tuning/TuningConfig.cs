using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Tuning;

/// <summary>
/// The tuning plugin's own fields, with the reference plugin's names: <c>sysctl</c>, <c>mac</c>, <c>promisc</c>,
/// <c>mtu</c>, <c>txQLen</c>, <c>allmulti</c>, <c>dataDir</c>, the <c>mac</c> capability and the same fields under
/// <c>args.cni</c>. Read by hand from the raw config bytes (see <see cref="Netconf"/>).
/// </summary>
public sealed class TuningConfig
{
    /// <summary>The <c>sysctl</c> map in config order; a key given twice is an error (as in the reference).</summary>
    public List<KeyValuePair<string, string>> Sysctl { get; set; } = [];
    public string? Mac { get; set; }
    public bool Promisc { get; set; }
    public int Mtu { get; set; }
    public int? TxQLen { get; set; }
    public bool? Allmulti { get; set; }
    public string? DataDir { get; set; }
    /// <summary><c>runtimeConfig.mac</c> (the <c>mac</c> capability).</summary>
    public string? RuntimeMac { get; set; }
    /// <summary><c>args.cni</c>: each field set there overrides the top-level one; its <c>sysctl</c> entries are merged in.</summary>
    public TuningArgs? Args { get; set; }

    public static TuningConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("sysctl", "mac", "promisc", "mtu", "txQLen", "allmulti", "dataDir", "runtimeConfig", "args");

    internal static TuningConfig Read(JsonElement root)
    {
        var c = new TuningConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "sysctl": c.Sysctl = ReadSysctl(v, "$.sysctl", rejectDuplicates: true) ?? []; break;
                case "mac": c.Mac = JsonRead.String(v, "$.mac"); break;
                case "promisc": c.Promisc = JsonRead.Bool(v, "$.promisc"); break;
                case "mtu": c.Mtu = JsonRead.Int32(v, "$.mtu"); break;
                case "txQLen": c.TxQLen = JsonRead.NullableInt32(v, "$.txQLen"); break;
                case "allmulti": c.Allmulti = JsonRead.NullableBool(v, "$.allmulti"); break;
                case "dataDir": c.DataDir = JsonRead.String(v, "$.dataDir"); break;
                case "runtimeConfig":
                    if (JsonRead.Object(v, "$.runtimeConfig") is { } rc && JsonFields.TryGet(rc, "mac", out var mac))
                        c.RuntimeMac = JsonRead.String(mac, "$.runtimeConfig.mac");
                    break;
                case "args":
                    if (JsonRead.Object(v, "$.args") is { } a && JsonFields.TryGet(a, "cni", out var cni))
                        c.Args = TuningArgs.Read(cni, "$.args.cni");
                    break;
            }
        }
        return c;
    }

    /// <summary>A JSON object of strings, in order; null for JSON null.</summary>
    internal static List<KeyValuePair<string, string>>? ReadSysctl(JsonElement e, string path, bool rejectDuplicates)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var list = new List<KeyValuePair<string, string>>();
        foreach (var p in obj.EnumerateObject())
        {
            string key = JsonRead.Name(p, path);
            string value = JsonRead.String(p.Value, $"{path}['{key}']") ?? "";
            int at = list.FindIndex(kv => kv.Key == key);
            if (at >= 0)
            {
                if (rejectDuplicates)
                    throw new JsonException("duplicated sysctl keys are not allowed");
                list[at] = new(key, value);
            }
            else
            {
                list.Add(new(key, value));
            }
        }
        return list;
    }
}

/// <summary>The fields of <c>args.cni</c>; null where not given.</summary>
public sealed class TuningArgs
{
    public List<KeyValuePair<string, string>>? Sysctl { get; set; }
    public string? Mac { get; set; }
    public bool? Promisc { get; set; }
    public int? Mtu { get; set; }
    public bool? Allmulti { get; set; }
    public int? TxQLen { get; set; }

    private static readonly JsonFields Fields = new("sysctl", "mac", "promisc", "mtu", "allmulti", "txQLen");

    internal static TuningArgs? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var a = new TuningArgs();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "sysctl": a.Sysctl = TuningConfig.ReadSysctl(v, path + ".sysctl", rejectDuplicates: false); break;
                case "mac": a.Mac = JsonRead.String(v, path + ".mac"); break;
                case "promisc": a.Promisc = JsonRead.NullableBool(v, path + ".promisc"); break;
                case "mtu": a.Mtu = JsonRead.NullableInt32(v, path + ".mtu"); break;
                case "allmulti": a.Allmulti = JsonRead.NullableBool(v, path + ".allmulti"); break;
                case "txQLen": a.TxQLen = JsonRead.NullableInt32(v, path + ".txQLen"); break;
            }
        }
        return a;
    }
}
