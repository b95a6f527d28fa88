using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Ptp;

/// <summary>
/// The ptp plugin's own fields, with the reference plugin's names and defaults. Read by hand from the raw config
/// bytes (see <see cref="Netconf"/>); the shared fields (name, ipam, dns, prevResult) come from <see cref="NetworkConfig"/>.
/// </summary>
public sealed class PtpConfig
{
    /// <summary><c>ipMasq</c>: masquerade traffic from the container to destinations outside its subnet.</summary>
    public bool IPMasq { get; set; }
    /// <summary>The reference's <c>ipMasqBackend</c> ("iptables" or "nftables"); we always use nftables and accept either.</summary>
    public string? IPMasqBackend { get; set; }
    /// <summary>MTU of both veth ends; 0 is the kernel's default.</summary>
    public int Mtu { get; set; }

    /// <summary>Decodes the ptp fields of a config; code 6 on malformed JSON or a field of the wrong kind.</summary>
    public static PtpConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("ipMasq", "ipMasqBackend", "mtu");

    /// <summary>The fields of the config's root object; unknown fields are ignored, a repeated field's last value wins.</summary>
    internal static PtpConfig Read(JsonElement root)
    {
        var c = new PtpConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "ipMasq": c.IPMasq = JsonRead.Bool(v, "$.ipMasq"); break;
                case "ipMasqBackend": c.IPMasqBackend = JsonRead.String(v, "$.ipMasqBackend"); break;
                case "mtu": c.Mtu = JsonRead.Int32(v, "$.mtu"); break;
            }
        }
        return c;
    }
}

/// <summary>A ptp configuration after the checks that need no kernel; built before any side effect.</summary>
public sealed class PtpOptions
{
    public required PtpConfig Config { get; init; }
    public required string NetworkName { get; init; }
    public bool IPMasq => Config.IPMasq;
    public int Mtu => Config.Mtu;

    public static PtpOptions From(CniRequest request) => From(PtpConfig.Parse(request.StdinData), request.Config);

    public static PtpOptions From(PtpConfig c, NetworkConfig net)
    {
        if (c.Mtu != 0 && (c.Mtu < 68 || c.Mtu > 65535))
            throw CniException.InvalidConfig($"invalid mtu {c.Mtu} (must be 0 for the default, or between 68 and 65535)");
        if (c.IPMasqBackend is not (null or "" or "iptables" or "nftables"))
            throw CniException.InvalidConfig($"invalid ipMasqBackend \"{c.IPMasqBackend}\" (expected \"iptables\" or \"nftables\")");
        if (string.IsNullOrEmpty(net.IpamType))
            throw CniException.InvalidConfig("ptp needs an \"ipam\" section with a type", "the point-to-point routes are built from the IPAM plugin's addresses and gateways");
        return new PtpOptions { Config = c, NetworkName = net.Name ?? "" };
    }
}
