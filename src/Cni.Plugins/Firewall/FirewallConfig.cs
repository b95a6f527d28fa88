using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.FirewallMeta;

/// <summary>The reference's <c>ingressPolicy</c> values.</summary>
public enum IngressPolicy { Open, SameBridge, Isolated }

/// <summary>
/// The firewall plugin's own fields, with the reference's names and defaults: <c>backend</c> (<c>iptables</c>,
/// <c>firewalld</c>, or empty for the reference's choice), <c>iptablesAdminChainName</c> (default <c>CNI-ADMIN</c>),
/// <c>firewalldZone</c> (default <c>trusted</c>, only for firewalld), <c>ingressPolicy</c> (<c>open</c> by default,
/// <c>same-bridge</c>, <c>isolated</c>). The namespace is <c>FirewallMeta</c> (the reference's plugins/meta/firewall)
/// because <c>Cni.Plugins.Firewall</c> is the plugins' shared nftables port.
/// </summary>
public sealed class FirewallConfig
{
    public string? Backend { get; private set; }
    public string? IptablesAdminChainName { get; private set; }
    public string? FirewalldZone { get; private set; }
    public string? IngressPolicyText { get; private set; }

    /// <summary>iptables' chain name limit (XT_EXTENSION_MAXNAMELEN less its NUL).</summary>
    public const int MaxChainNameLength = 28;

    private static readonly JsonFields Fields = new("backend", "iptablesAdminChainName", "firewalldZone", "ingressPolicy");

    public static FirewallConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    internal static FirewallConfig Read(JsonElement root)
    {
        var c = new FirewallConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "backend": c.Backend = JsonRead.String(v, "$.backend"); break;
                case "iptablesAdminChainName": c.IptablesAdminChainName = JsonRead.String(v, "$.iptablesAdminChainName"); break;
                case "firewalldZone": c.FirewalldZone = JsonRead.String(v, "$.firewalldZone"); break;
                case "ingressPolicy": c.IngressPolicyText = JsonRead.String(v, "$.ingressPolicy"); break;
            }
        }
        return c;
    }

    /// <summary>The administrator's chain: <c>CNI-ADMIN</c> unless named; a name iptables could hold.</summary>
    public string AdminChain()
    {
        string name = string.IsNullOrEmpty(IptablesAdminChainName) ? "CNI-ADMIN" : IptablesAdminChainName;
        if (name.Length > MaxChainNameLength || name.Any(c => c <= ' ' || c > '~') || name[0] == '-' || name == "CNI-FORWARD" || name == "FORWARD")
            throw CniException.InvalidConfig($"invalid iptablesAdminChainName '{name}'",
                $"a chain name of at most {MaxChainNameLength} printable ASCII characters, no spaces, not starting with '-', not FORWARD or CNI-FORWARD");
        return name;
    }

    /// <summary>
    /// As the reference: <c>firewalld</c> selects firewalld, anything else (empty, <c>iptables</c>, an unknown value)
    /// the iptables backend here; the reference would also pick firewalld for an empty or unknown value when firewalld
    /// runs. firewalld (D-Bus) is not implemented: refused with a clear error.
    /// </summary>
    public void RequireIptablesBackend()
    {
        if (Backend == "firewalld")
            throw new CniException(ErrorCode.UnsupportedField, "the firewalld backend is not supported",
                "this firewall plugin writes iptables-nft compatible rules over netlink; set \"backend\": \"iptables\" (firewalld's D-Bus API is not implemented)");
    }

    /// <summary>The ingress policy; an unknown value is the reference's error.</summary>
    public IngressPolicy Policy() => IngressPolicyText switch
    {
        null or "" or "open" => IngressPolicy.Open,
        "same-bridge" => IngressPolicy.SameBridge,
        "isolated" => IngressPolicy.Isolated,
        _ => throw CniException.InvalidConfig($"unknown ingress policy: \"{IngressPolicyText}\"", "ingressPolicy is open, same-bridge or isolated"),
    };
}
