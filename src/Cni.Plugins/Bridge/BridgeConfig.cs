using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// The bridge plugin's own fields, with the reference plugin's names and defaults, plus the additive
/// Docker-style <c>isolation</c> and <c>internal</c>. Read by hand from the raw config bytes (see
/// <see cref="Netconf"/>); the shared fields (name, ipam, dns, prevResult) come from <see cref="NetworkConfig"/>.
/// </summary>
public sealed class BridgeConfig
{
    public const string DefaultBridgeName = "cni0";

    /// <summary><c>bridge</c>.</summary>
    public string? BridgeName { get; set; }
    public bool IsGateway { get; set; }
    public bool IsDefaultGateway { get; set; }
    public bool ForceAddress { get; set; }
    /// <summary><c>ipMasq</c>.</summary>
    public bool IPMasq { get; set; }
    /// <summary>The reference's <c>ipMasqBackend</c> ("iptables" or "nftables"); we always use nftables and accept either.</summary>
    public string? IPMasqBackend { get; set; }
    public int Mtu { get; set; }
    public bool HairpinMode { get; set; }
    public bool PromiscMode { get; set; }
    public int Vlan { get; set; }
    public List<VlanTrunk>? VlanTrunk { get; set; }
    /// <summary>Defaults to true, as in the reference.</summary>
    public bool PreserveDefaultVlan { get; set; } = true;
    /// <summary><c>macspoofchk</c>.</summary>
    public bool MacSpoofCheck { get; set; }
    /// <summary><c>enabledad</c>.</summary>
    public bool EnableDad { get; set; }
    public bool DisableContainerInterface { get; set; }
    public bool PortIsolation { get; set; }

    /// <summary>Docker's <c>enable_icc=false</c>: containers on the bridge reach only the gateway and the outside.</summary>
    public bool Isolation { get; set; }
    /// <summary>Docker's <c>--internal</c>: no masquerade, no route out, forwarding between the bridge and other interfaces dropped.</summary>
    public bool Internal { get; set; }

    /// <summary><c>args.cni</c> (only <c>mac</c> is read).</summary>
    public BridgeArgsSection? Args { get; set; }
    /// <summary><c>runtimeConfig</c> (only the <c>mac</c> capability is read).</summary>
    public BridgeRuntimeConfig? RuntimeConfig { get; set; }

    public string Bridge => string.IsNullOrEmpty(BridgeName) ? DefaultBridgeName : BridgeName;

    /// <summary>The bridge carries the gateway address: <c>isGateway</c>, implied by <c>isDefaultGateway</c>.</summary>
    public bool ActsAsGateway => IsGateway || IsDefaultGateway;

    /// <summary>Bridge ports are isolated from each other (<c>portIsolation</c> or <c>isolation</c>).</summary>
    public bool IsolatePorts => PortIsolation || Isolation;

    /// <summary>Decodes the bridge fields of a config; code 6 on malformed JSON or a field of the wrong kind.</summary>
    public static BridgeConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("bridge", "isGateway", "isDefaultGateway", "forceAddress", "ipMasq", "ipMasqBackend", "mtu", "hairpinMode", "promiscMode", "vlan", "vlanTrunk", "preserveDefaultVlan", "macspoofchk", "enabledad", "disableContainerInterface", "portIsolation", "isolation", "internal", "args", "runtimeConfig");

    /// <summary>The fields of the config's root object; unknown fields are ignored, a repeated field's last value wins.</summary>
    internal static BridgeConfig Read(JsonElement root)
    {
        var c = new BridgeConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "bridge": c.BridgeName = JsonRead.String(v, "$.bridge"); break;
                case "isGateway": c.IsGateway = JsonRead.Bool(v, "$.isGateway"); break;
                case "isDefaultGateway": c.IsDefaultGateway = JsonRead.Bool(v, "$.isDefaultGateway"); break;
                case "forceAddress": c.ForceAddress = JsonRead.Bool(v, "$.forceAddress"); break;
                case "ipMasq": c.IPMasq = JsonRead.Bool(v, "$.ipMasq"); break;
                case "ipMasqBackend": c.IPMasqBackend = JsonRead.String(v, "$.ipMasqBackend"); break;
                case "mtu": c.Mtu = JsonRead.Int32(v, "$.mtu"); break;
                case "hairpinMode": c.HairpinMode = JsonRead.Bool(v, "$.hairpinMode"); break;
                case "promiscMode": c.PromiscMode = JsonRead.Bool(v, "$.promiscMode"); break;
                case "vlan": c.Vlan = JsonRead.Int32(v, "$.vlan"); break;
                case "vlanTrunk": c.VlanTrunk = JsonRead.List(v, "$.vlanTrunk", Plugins.Bridge.VlanTrunk.Read); break;
                case "preserveDefaultVlan": c.PreserveDefaultVlan = JsonRead.Bool(v, "$.preserveDefaultVlan"); break;
                case "macspoofchk": c.MacSpoofCheck = JsonRead.Bool(v, "$.macspoofchk"); break;
                case "enabledad": c.EnableDad = JsonRead.Bool(v, "$.enabledad"); break;
                case "disableContainerInterface": c.DisableContainerInterface = JsonRead.Bool(v, "$.disableContainerInterface"); break;
                case "portIsolation": c.PortIsolation = JsonRead.Bool(v, "$.portIsolation"); break;
                case "isolation": c.Isolation = JsonRead.Bool(v, "$.isolation"); break;
                case "internal": c.Internal = JsonRead.Bool(v, "$.internal"); break;
                case "args": c.Args = BridgeArgsSection.Read(v, "$.args"); break;
                case "runtimeConfig": c.RuntimeConfig = BridgeRuntimeConfig.Read(v, "$.runtimeConfig"); break;
            }
        }
        return c;
    }
}

/// <summary>One item of <c>vlanTrunk</c>: a range <c>minID</c>–<c>maxID</c>, or one <c>id</c>.</summary>
public sealed class VlanTrunk
{
    public int? MinId { get; set; }
    public int? MaxId { get; set; }
    public int? Id { get; set; }

    private static readonly JsonFields Fields = new("minID", "maxID", "id");

    /// <summary>An item; null is refused (the reference dereferences it).</summary>
    internal static VlanTrunk Read(JsonElement e, string path)
    {
        var obj = JsonRead.Object(e, path) ?? throw JsonRead.Mismatch(path, "an object", e);
        var t = new VlanTrunk();
        foreach (var p in obj.EnumerateObject())
        {
            switch (Fields.Match(p))
            {
                case "minID": t.MinId = JsonRead.NullableInt32(p.Value, $"{path}.minID"); break;
                case "maxID": t.MaxId = JsonRead.NullableInt32(p.Value, $"{path}.maxID"); break;
                case "id": t.Id = JsonRead.NullableInt32(p.Value, $"{path}.id"); break;
            }
        }
        return t;
    }
}

/// <summary>The config's <c>args</c>: of it, <c>cni</c>.</summary>
public sealed class BridgeArgsSection
{
    public BridgeCniArgs? Cni { get; set; }

    internal static BridgeArgsSection? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var a = new BridgeArgsSection();
        foreach (var p in obj.EnumerateObject())
            if (JsonFields.Selects(p, "cni")) a.Cni = BridgeCniArgs.Read(p.Value, $"{path}.cni");
        return a;
    }
}

/// <summary><c>args.cni</c>: of it, <c>mac</c>.</summary>
public sealed class BridgeCniArgs
{
    public string? Mac { get; set; }

    internal static BridgeCniArgs? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var a = new BridgeCniArgs();
        foreach (var p in obj.EnumerateObject())
            if (JsonFields.Selects(p, "mac")) a.Mac = JsonRead.String(p.Value, $"{path}.mac");
        return a;
    }
}

/// <summary><c>runtimeConfig</c>: of it, the <c>mac</c> capability.</summary>
public sealed class BridgeRuntimeConfig
{
    public string? Mac { get; set; }

    internal static BridgeRuntimeConfig? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var r = new BridgeRuntimeConfig();
        foreach (var p in obj.EnumerateObject())
            if (JsonFields.Selects(p, "mac")) r.Mac = JsonRead.String(p.Value, $"{path}.mac");
        return r;
    }
}
