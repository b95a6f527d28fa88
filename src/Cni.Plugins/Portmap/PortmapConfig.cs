using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Cni.Firewall;
using Cni.Spec;

namespace Cni.Plugins.Portmap;

/// <summary>
/// The portmap plugin's own fields, with the reference plugin's names and defaults (<c>snat</c> true,
/// <c>markMasqBit</c> 13, <c>externalSetMarkChain</c>, <c>masqAll</c>, <c>conditionsV4/V6</c>), plus
/// <c>localhostPorts</c> (default true: 127.0.0.1:hostPort reaches the container). Read by hand from the raw
/// config bytes (see <see cref="Netconf"/>).
/// </summary>
public sealed class PortmapConfig
{
    public bool? Snat { get; set; }
    public int? MarkMasqBit { get; set; }
    public string? ExternalSetMarkChain { get; set; }
    public bool MasqAll { get; set; }
    public List<string?>? ConditionsV4 { get; set; }
    public List<string?>? ConditionsV6 { get; set; }
    /// <summary>Ours: connections to 127.0.0.1:hostPort reach the container (route_localnet + masquerade). Default true.</summary>
    public bool? LocalhostPorts { get; set; }
    public PortmapRuntimeConfig? RuntimeConfig { get; set; }

    /// <summary>Decodes the portmap fields of a config; code 6 on malformed JSON or a field of the wrong kind.</summary>
    public static PortmapConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static readonly JsonFields Fields = new("snat", "markMasqBit", "externalSetMarkChain", "masqAll", "conditionsV4", "conditionsV6", "localhostPorts", "runtimeConfig");

    /// <summary>The fields of the config's root object; unknown fields are ignored, a repeated field's last value wins.</summary>
    internal static PortmapConfig Read(JsonElement root)
    {
        var c = new PortmapConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "snat": c.Snat = JsonRead.NullableBool(v, "$.snat"); break;
                case "markMasqBit": c.MarkMasqBit = JsonRead.NullableInt32(v, "$.markMasqBit"); break;
                case "externalSetMarkChain": c.ExternalSetMarkChain = JsonRead.String(v, "$.externalSetMarkChain"); break;
                case "masqAll": c.MasqAll = JsonRead.Bool(v, "$.masqAll"); break;
                case "conditionsV4": c.ConditionsV4 = JsonRead.NullableStringList(v, "$.conditionsV4"); break;
                case "conditionsV6": c.ConditionsV6 = JsonRead.NullableStringList(v, "$.conditionsV6"); break;
                case "localhostPorts": c.LocalhostPorts = JsonRead.NullableBool(v, "$.localhostPorts"); break;
                case "runtimeConfig": c.RuntimeConfig = PortmapRuntimeConfig.Read(v, "$.runtimeConfig"); break;
            }
        }
        return c;
    }

    /// <summary>The rule options, validated: markMasqBit 0–31 and not together with externalSetMarkChain; no iptables conditions.</summary>
    public PortMappingOptions Options()
    {
        if (MarkMasqBit is not null && ExternalSetMarkChain is not null)
            throw CniException.InvalidConfig("Cannot specify externalSetMarkChain and markMasqBit");
        if (MarkMasqBit is int bit && bit is < 0 or > 31)
            throw CniException.InvalidConfig($"markMasqBit must be between 0 and 31, got {bit}");
        if (ExternalSetMarkChain is { } chain && !Names.IsValidIdentifier(chain))
            throw CniException.InvalidConfig($"invalid externalSetMarkChain '{chain}'");
        if (ConditionsV4 is { Count: > 0 } || ConditionsV6 is { Count: > 0 })
            throw new CniException(ErrorCode.UnsupportedField, "conditionsV4/conditionsV6 are not supported",
                "they are iptables match arguments; this plugin writes nftables and does not ignore them silently");
        return new PortMappingOptions
        {
            Snat = Snat ?? true,
            Localhost = LocalhostPorts ?? true,
            MasqueradeAll = MasqAll,
            MarkMasqBit = ExternalSetMarkChain is null ? MarkMasqBit ?? PortMappingOptions.DefaultMarkMasqBit : null,
        };
    }

    /// <summary>runtimeConfig.portMappings, validated: ports 1–65535, tcp/udp/sctp (empty means tcp), parseable hostIP, no duplicates.</summary>
    public IReadOnlyList<PortMapping> Mappings()
    {
        var entries = RuntimeConfig?.PortMappings;
        if (entries is null || entries.Count == 0) return [];
        var result = new List<PortMapping>(entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i] ?? throw CniException.InvalidConfig($"portMappings[{i}] is null");
            string where = $"portMappings[{i}]";
            if (e.HostPort is < 1 or > 65535)
                throw CniException.InvalidConfig($"Invalid host port number: {e.HostPort}", $"{where}: hostPort must be 1-65535");
            if (e.ContainerPort is < 1 or > 65535)
                throw CniException.InvalidConfig($"Invalid container port number: {e.ContainerPort}", $"{where}: containerPort must be 1-65535");
            PortProtocol protocol = (e.Protocol ?? "").ToLowerInvariant() switch
            {
                "" or "tcp" => PortProtocol.Tcp,
                "udp" => PortProtocol.Udp,
                "sctp" => PortProtocol.Sctp,
                _ => throw CniException.InvalidConfig($"Invalid protocol '{e.Protocol}'", $"{where}: protocol must be tcp, udp or sctp"),
            };
            IPAddress? hostIP = null;
            if (!string.IsNullOrEmpty(e.HostIP))
            {
                if (!IPAddress.TryParse(e.HostIP, out hostIP) || (hostIP.AddressFamily == AddressFamily.InterNetworkV6 && hostIP.ScopeId != 0) || e.HostIP.Contains('%')
                    || (hostIP.AddressFamily == AddressFamily.InterNetwork && e.HostIP.Count(ch => ch == '.') != 3))
                    throw CniException.InvalidConfig($"Invalid host IP '{e.HostIP}'", $"{where}: hostIP must be an IPv4 or IPv6 address");
                if (hostIP.IsIPv4MappedToIPv6) hostIP = hostIP.MapToIPv4();
            }
            result.Add(new PortMapping((ushort)e.HostPort, (ushort)e.ContainerPort, protocol, hostIP));
        }
        // One host port (protocol, port, address or wildcard of a family) must not lead to two container ports.
        // A plain dictionary: grouping by a tuple and naming enums cost run-time type building in NativeAOT.
        static string HostKey(PortMapping m) =>
            $"{(int)m.Protocol}|{m.HostPort}|{(m.IsWildcard ? "*" + (m.HostIP is null ? "" : ((int)m.HostIP.AddressFamily).ToString(CultureInfo.InvariantCulture)) : m.HostIP!.ToString())}";
        var seen = new Dictionary<string, ushort>(StringComparer.Ordinal);
        foreach (var m in result)
        {
            string key = HostKey(m);
            if (!seen.TryAdd(key, m.ContainerPort) && seen[key] != m.ContainerPort)
                throw CniException.InvalidConfig($"host port {m.HostPort}/{m.Protocol.ToString().ToLowerInvariant()} is mapped twice to different container ports",
                    string.Join(", ", result.Where(x => HostKey(x) == key).Select(x => x.ToString())));
        }
        return result;
    }
}

public sealed class PortmapRuntimeConfig
{
    /// <summary>The <c>portMappings</c> capability; a null entry is kept (and refused by <see cref="PortmapConfig.Mappings"/>).</summary>
    public List<PortMapEntry?>? PortMappings { get; set; }

    internal static PortmapRuntimeConfig? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var r = new PortmapRuntimeConfig();
        foreach (var p in obj.EnumerateObject())
            if (JsonFields.Selects(p, "portMappings")) r.PortMappings = JsonRead.List(p.Value, $"{path}.portMappings", PortMapEntry.Read);
        return r;
    }
}

/// <summary>One entry of the <c>portMappings</c> capability (CNI CONVENTIONS.md).</summary>
public sealed class PortMapEntry
{
    public long HostPort { get; set; }
    public long ContainerPort { get; set; }
    public string? Protocol { get; set; }
    /// <summary><c>hostIP</c>.</summary>
    public string? HostIP { get; set; }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{HostIP}:{HostPort}->{ContainerPort}/{Protocol}");

    private static readonly JsonFields Fields = new("hostPort", "containerPort", "protocol", "hostIP");

    /// <summary>An entry, or null for JSON null.</summary>
    internal static PortMapEntry? Read(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var m = new PortMapEntry();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "hostPort": m.HostPort = JsonRead.Int64(v, $"{path}.hostPort"); break;
                case "containerPort": m.ContainerPort = JsonRead.Int64(v, $"{path}.containerPort"); break;
                case "protocol": m.Protocol = JsonRead.String(v, $"{path}.protocol"); break;
                case "hostIP": m.HostIP = JsonRead.String(v, $"{path}.hostIP"); break;
            }
        }
        return m;
    }
}
