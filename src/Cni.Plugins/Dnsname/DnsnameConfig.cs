using System.Text.Json;
using Cni.Resolver;
using Cni.Spec;

namespace Cni.Plugins.Dnsname;

/// <summary>
/// The dnsname plugin's fields: podman's <c>domainName</c> (default <c>dns.podman</c>) and the <c>aliases</c>
/// capability (<c>runtimeConfig.aliases</c>: network name → aliases). Ours, additive: <c>dataDir</c> (where the names
/// files live, default <c>/run/sharpcni/dnsname</c>, which the node agent's resolver reads) and <c>internal</c> (the
/// network reaches nothing outside: its resolver forwards no query).
/// </summary>
public sealed class DnsnameConfig
{
    public string Domain { get; private set; } = NetworkNames.DefaultDomain;
    public string DataDir { get; private set; } = NameStore.DefaultDirectory;
    public bool Internal { get; private set; }
    /// <summary>Every network's aliases from <c>runtimeConfig.aliases</c>.</summary>
    public Dictionary<string, List<string>> Aliases { get; } = new(StringComparer.Ordinal);

    private static readonly JsonFields Fields = new("domainName", "dataDir", "internal", "runtimeConfig");

    public static DnsnameConfig Parse(ReadOnlySpan<byte> json) => Netconf.Decode(json, Read);

    private static DnsnameConfig Read(JsonElement root)
    {
        var c = new DnsnameConfig();
        foreach (var p in root.EnumerateObject())
        {
            var v = p.Value;
            switch (Fields.Match(p))
            {
                case "domainName":
                    if (JsonRead.String(v, "$.domainName") is { Length: > 0 } d)
                    {
                        if (!DnsName.IsValid(d)) throw CniException.InvalidConfig($"dnsname: domainName \"{d}\" is not a valid domain name");
                        c.Domain = DnsName.Normalize(d);
                    }
                    break;
                case "dataDir":
                    if (JsonRead.String(v, "$.dataDir") is { Length: > 0 } dir)
                    {
                        if (!Path.IsPathRooted(dir)) throw CniException.InvalidConfig($"dnsname: dataDir \"{dir}\" must be an absolute path");
                        c.DataDir = dir;
                    }
                    break;
                case "internal": c.Internal = JsonRead.Bool(v, "$.internal"); break;
                case "runtimeConfig":
                    if (JsonRead.Object(v, "$.runtimeConfig") is { } rc && JsonFields.TryGet(rc, "aliases", out var aliases)
                        && JsonRead.Object(aliases, "$.runtimeConfig.aliases") is { } map)
                    {
                        foreach (var net in map.EnumerateObject())
                        {
                            var list = new List<string>();
                            if (net.Value.ValueKind == JsonValueKind.Array)
                            {
                                int i = 0;
                                foreach (var a in net.Value.EnumerateArray())
                                {
                                    string alias = JsonRead.String(a, $"$.runtimeConfig.aliases['{net.Name}'][{i++}]") ?? "";
                                    if (!DnsName.IsValid(alias))
                                        throw CniException.InvalidConfig($"dnsname: alias \"{alias}\" is not a valid host name");
                                    if (!list.Contains(DnsName.Normalize(alias))) list.Add(DnsName.Normalize(alias));
                                }
                            }
                            else if (!JsonRead.IsNull(net.Value))
                            {
                                throw new JsonException($"$.runtimeConfig.aliases['{net.Name}'] must be an array of strings");
                            }
                            c.Aliases[net.Name] = list;
                        }
                    }
                    break;
            }
        }
        return c;
    }
}
