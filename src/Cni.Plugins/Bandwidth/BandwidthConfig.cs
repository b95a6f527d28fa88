using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Bandwidth;

/// <summary>
/// One bandwidth entry (CNI CONVENTIONS.md, the <c>bandwidth</c> capability): rates in bits per second, bursts in
/// bits; 0 means no limit in that direction. The same four fields may stand at the top level of the plugin's config.
/// </summary>
public sealed record BandwidthEntry(ulong IngressRate, ulong IngressBurst, ulong EgressRate, ulong EgressBurst)
{
    public bool IsZero => IngressRate == 0 && IngressBurst == 0 && EgressRate == 0 && EgressBurst == 0;

    /// <summary>Traffic towards the container is shaped (TBF on the host veth).</summary>
    public bool ShapesIngress => IngressRate > 0 && IngressBurst > 0;

    /// <summary>Traffic from the container is shaped (through the IFB device).</summary>
    public bool ShapesEgress => EgressRate > 0 && EgressBurst > 0;

    private static readonly JsonFields Fields = new("ingressRate", "ingressBurst", "egressRate", "egressBurst");

    /// <summary>True when <paramref name="p"/> is one of the four fields (Go's matching: containerd sends <c>IngressRate</c>).</summary>
    internal static bool IsField(JsonProperty p) => Fields.Match(p) is not null;

    /// <summary>The four fields of an object; others are ignored. Null is an entry of zeros, as Go leaves the fields.</summary>
    internal static BandwidthEntry Read(JsonElement obj, string path)
    {
        ulong ir = 0, ib = 0, er = 0, eb = 0;
        foreach (var p in obj.EnumerateObject())
        {
            switch (Fields.Match(p))
            {
                case "ingressRate": ir = UInt64(p.Value, $"{path}.ingressRate", ir); break;
                case "ingressBurst": ib = UInt64(p.Value, $"{path}.ingressBurst", ib); break;
                case "egressRate": er = UInt64(p.Value, $"{path}.egressRate", er); break;
                case "egressBurst": eb = UInt64(p.Value, $"{path}.egressBurst", eb); break;
            }
        }
        return new BandwidthEntry(ir, ib, er, eb);
    }

    /// <summary>A uint64 as Go decodes one: JSON null leaves the value as it was; a negative, fractional or string value is an error.</summary>
    private static ulong UInt64(JsonElement e, string path, ulong current) => e.ValueKind switch
    {
        JsonValueKind.Null => current,
        JsonValueKind.Number when e.TryGetUInt64(out ulong v) => v,
        _ => throw JsonRead.Mismatch(path, "an unsigned 64-bit integer", e),
    };

    /// <summary>The reference's checks: a rate needs a burst and a burst a rate; a burst below 4 GiB (as bytes in 32 bits).</summary>
    public void Validate()
    {
        ValidatePair(IngressRate, IngressBurst, "ingress");
        ValidatePair(EgressRate, EgressBurst, "egress");
    }

    private static void ValidatePair(ulong rate, ulong burst, string direction)
    {
        if (burst == 0 && rate != 0)
            throw CniException.InvalidConfig("if rate is set, burst must also be set", $"{direction}Rate is {rate}, {direction}Burst is 0");
        if (rate == 0 && burst != 0)
            throw CniException.InvalidConfig("if burst is set, rate must also be set", $"{direction}Burst is {burst}, {direction}Rate is 0");
        if (burst / 8 >= uint.MaxValue)
            throw CniException.InvalidConfig("burst cannot be more than 4GB", $"{direction}Burst is {burst} bits");
    }
}

/// <summary>
/// The bandwidth plugin's own fields, with the reference's names: the top-level entry and
/// <c>runtimeConfig.bandwidth</c>. As the reference: when any of the four top-level fields is present, the
/// top-level entry is used, else the capability's.
/// </summary>
public sealed class BandwidthConfig
{
    public BandwidthEntry? TopLevel { get; private set; }
    public BandwidthEntry? RuntimeConfig { get; private set; }

    /// <summary>The entry in force, validated, or null when neither is given.</summary>
    public BandwidthEntry? Effective()
    {
        BandwidthEntry? e = TopLevel ?? RuntimeConfig;
        e?.Validate();
        return e;
    }

    public static BandwidthConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields RuntimeConfigField = new("runtimeConfig");

    internal static BandwidthConfig Read(JsonElement root)
    {
        var c = new BandwidthConfig();
        bool topLevel = false;
        foreach (var p in root.EnumerateObject())
        {
            if (BandwidthEntry.IsField(p)) topLevel = true;
            else if (RuntimeConfigField.Match(p) is not null && JsonRead.Object(p.Value, "$.runtimeConfig") is { } rc)
            {
                foreach (var q in rc.EnumerateObject())
                {
                    if (JsonFields.Selects(q, "bandwidth"))
                        c.RuntimeConfig = JsonRead.Object(q.Value, "$.runtimeConfig.bandwidth") is { } bw ? BandwidthEntry.Read(bw, "$.runtimeConfig.bandwidth") : null;
                }
            }
        }
        if (topLevel) c.TopLevel = BandwidthEntry.Read(root, "$");
        return c;
    }
}
