using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// The macvlan plugin's own fields, with the reference plugin's names and defaults. Read by hand from the raw
/// config bytes (see <see cref="Netconf"/>); the shared fields (name, ipam, dns, prevResult) come from
/// <see cref="NetworkConfig"/>.
/// </summary>
public sealed class MacvlanConfig
{
    /// <summary>The parent link; empty means the interface of the default route (of the container's namespace with <see cref="LinkInContainer"/>).</summary>
    public string? Master { get; set; }
    /// <summary>bridge (default), private, vepa, passthru or source.</summary>
    public string? Mode { get; set; }
    /// <summary>0 means the master's MTU; more than the master's is an error.</summary>
    public int Mtu { get; set; }
    public string? Mac { get; set; }
    /// <summary>The master lives in the container's namespace, not the plugin's.</summary>
    public bool LinkInContainer { get; set; }
    public MacvlanRuntimeConfig? RuntimeConfig { get; set; }

    /// <summary>Decodes the macvlan fields of a config; code 6 on malformed JSON or a field of the wrong kind.</summary>
    public static MacvlanConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("master", "mode", "mtu", "mac", "linkInContainer", "runtimeConfig");

    /// <summary>The fields of the config's root object; unknown fields are ignored, a repeated field's last value wins.</summary>
    internal static MacvlanConfig Read(JsonElement root)
    {
        var c = new MacvlanConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "master": c.Master = JsonRead.String(v, "$.master"); break;
                case "mode": c.Mode = JsonRead.String(v, "$.mode"); break;
                case "mtu": c.Mtu = JsonRead.Int32(v, "$.mtu"); break;
                case "mac": c.Mac = JsonRead.String(v, "$.mac"); break;
                case "linkInContainer": c.LinkInContainer = JsonRead.Bool(v, "$.linkInContainer"); break;
                case "runtimeConfig": c.RuntimeConfig = MacvlanRuntimeConfig.Read(v, "$.runtimeConfig"); break;
            }
        }
        return c;
    }
}

/// <summary>The <c>mac</c> capability.</summary>
public sealed class MacvlanRuntimeConfig
{
    public string? Mac { get; set; }

    internal static MacvlanRuntimeConfig? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var r = new MacvlanRuntimeConfig();
        foreach (var p in obj.EnumerateObject())
            if (JsonFields.Selects(p, "mac")) r.Mac = JsonRead.String(p.Value, $"{path}.mac");
        return r;
    }
}
