using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Cni.Spec;
using Dns = Cni.Spec.Dns;

namespace Cni.Ipam.Static;

/// <summary>One address the static IPAM plugin hands out, with its gateway if one was given.</summary>
public sealed record StaticAddress(IPPrefix Address, IPAddress? Gateway);

/// <summary>
/// The static IPAM plugin's configuration after every source of addresses was applied, in the reference's order:
/// <c>ipam.addresses</c>; then <c>IP=</c> from CNI_ARGS appended (with <c>GATEWAY=</c> applied to those CNI_ARGS
/// addresses that contain it); then <c>args.cni.ips</c>, which replaces everything before it; then the <c>ips</c>
/// capability (<c>runtimeConfig.ips</c>), which replaces everything before it. Addresses from <c>args.cni.ips</c> and
/// the capability carry no gateway (as in the reference). Pure: no file, no kernel; the plugin turns it into a
/// result with <see cref="ToResult"/>.
/// </summary>
public sealed class StaticIpam
{
    public required string Name { get; init; }
    public required string CniVersion { get; init; }
    public required IReadOnlyList<StaticAddress> Addresses { get; init; }
    public IReadOnlyList<Route>? Routes { get; init; }
    public Dns Dns { get; init; } = new();

    /// <summary>
    /// Reads and validates the configuration (the whole network config, as IPAM plugins receive it) with the
    /// CNI_ARGS of the call. A config that is not valid JSON of the right shape, or an address, gateway or route
    /// that does not parse, is an <see cref="IpamConfigException"/>; CNI_ARGS problems are <see cref="CniException"/>s
    /// with codes 2 (an unknown key without IgnoreUnknown) or 4 (malformed).
    /// </summary>
    public static StaticIpam Parse(ReadOnlySpan<byte> json, CniArgs args)
    {
        Wire wire;
        try
        {
            wire = JsonRead.ReadDocument(json, lenient: false, static root => root.ValueKind switch
            {
                JsonValueKind.Object => Wire.Read(root),
                JsonValueKind.Null => new Wire(),
                _ => throw JsonRead.Mismatch("$", "an object", root),
            });
        }
        catch (JsonException e)
        {
            throw new IpamConfigException($"failed to load static IPAM config: {e.Message}", e);
        }
        if (!wire.HasIpam)
            throw new IpamConfigException("IPAM config missing 'ipam' key");

        // Each entry: the text as given, the gateway, and whether it came from CNI_ARGS IP (GATEWAY's targets).
        var entries = new List<(string Text, IPAddress? Gateway)>();
        foreach (var a in wire.Addresses ?? [])
        {
            IPAddress? gw = null;
            if (a.Gateway is { Length: > 0 } g && !TryParseIP(g, out gw))
                throw new IpamConfigException($"invalid gateway \"{g}\" for address \"{a.Address}\"");
            entries.Add((a.Address ?? "", gw));
        }

        args.EnsureKnown("IP", "GATEWAY");
        int fromArgs = entries.Count;
        if (args.Get("IP") is { Length: > 0 } ipArg)
        {
            foreach (string item in ipArg.Split(','))
            {
                string text = item.Trim();
                if (!IPPrefix.TryParse(text, out _))
                    throw new IpamConfigException($"the 'ip' field is expected to be in CIDR notation, got: '{text}'");
                entries.Add((text, null));
            }
        }
        if (args.Get("GATEWAY") is { Length: > 0 } gwArg)
        {
            foreach (string item in gwArg.Split(','))
            {
                if (!TryParseIP(item.Trim(), out var gw))
                    throw new IpamConfigException($"invalid gateway address: {item}");
                for (int i = fromArgs; i < entries.Count; i++)
                {
                    if (IPPrefix.Parse(entries[i].Text).Contains(gw))
                        entries[i] = (entries[i].Text, gw);
                }
            }
        }

        if (wire.ArgsIps is { Count: > 0 } argsIps)
            entries = FromCapability(argsIps);
        if (wire.RuntimeIps is { Count: > 0 } runtimeIps)
            entries = FromCapability(runtimeIps);

        var addresses = new List<StaticAddress>(entries.Count);
        int v4 = 0, v6 = 0;
        foreach (var (text, gateway) in entries)
        {
            if (!IPPrefix.TryParse(text, out var prefix))
                throw new IpamConfigException($"the 'address' field is expected to be in CIDR notation, got: '{text}'");
            if (prefix.IsV4) v4++;
            else v6++;
            addresses.Add(new StaticAddress(prefix, gateway));
        }

        string version = string.IsNullOrEmpty(wire.CniVersion) ? Spec.CniVersion.V010 : wire.CniVersion;
        if ((v4 > 1 || v6 > 1) && !Spec.CniVersion.AtLeast(version, "0.3.0"))
            throw new IpamConfigException($"CNI version {wire.CniVersion} does not support more than 1 address per family");

        return new StaticIpam
        {
            Name = wire.Name ?? "",
            CniVersion = wire.CniVersion ?? "",
            Addresses = addresses,
            Routes = wire.Routes is null ? null : ValidateRoutes(wire.Routes),
            Dns = wire.Dns ?? new Dns(),
        };
    }

    /// <summary>
    /// The result the reference prints: every address with its gateway (no interface index: an IPAM plugin makes
    /// no interface), the configured routes, and <c>dns</c> always present (empty when not configured).
    /// </summary>
    public Result ToResult() => new()
    {
        IPs = Addresses.Count == 0 ? null : Addresses.Select(a => new IPConfig
        {
            Address = $"{a.Address.Address}/{a.Address.PrefixLength}",
            Gateway = a.Gateway?.ToString(),
        }).ToList(),
        Routes = Routes is { Count: > 0 } ? [.. Routes] : null,
        Dns = Dns,
    };

    /// <summary>
    /// CHECK against a previous result: every configured address is among its ips, with the configured gateway
    /// when one is configured. Returns what does not match (empty when all do). The reference only compares the
    /// gateways of addresses it finds; an address missing altogether is a mismatch here.
    /// </summary>
    public IReadOnlyList<string> Check(Result previous, string ifName)
    {
        var problems = new List<string>();
        foreach (var a in Addresses)
        {
            IPConfig? found = null;
            foreach (var ip in previous.IPs ?? [])
            {
                if (IPPrefix.TryParse(ip.Address, out var p) && p.Address.Equals(a.Address.Address))
                {
                    found = ip;
                    break;
                }
            }
            if (found is null)
                problems.Add($"static: Failed to find addr {a.Address.Address} of interface {ifName} in prevResult");
            else if (a.Gateway is not null && !(TryParseIP(found.Gateway, out var gw) && gw.Equals(a.Gateway)))
                problems.Add($"static: Failed to match addr {a.Address.Address} on interface {ifName}: gateway {found.Gateway ?? "(none)"}, configured {a.Gateway}");
        }
        return problems;
    }

    private static List<(string, IPAddress?)> FromCapability(List<string?> ips)
    {
        var entries = new List<(string, IPAddress?)>(ips.Count);
        foreach (string? text in ips)
        {
            if (!IPPrefix.TryParse(text, out _))
                throw new IpamConfigException($"an entry in the 'ips' field is NOT in CIDR notation, got: '{text}'");
            entries.Add((text, null));
        }
        return entries;
    }

    /// <summary>Routes as the reference decodes them: a destination in CIDR notation, an optional gateway address; written back canonically.</summary>
    private static List<Route> ValidateRoutes(List<Route?> routes)
    {
        var valid = new List<Route>(routes.Count);
        for (int i = 0; i < routes.Count; i++)
        {
            var r = routes[i] ?? throw new IpamConfigException($"ipam.routes[{i}] is null");
            if (!IPPrefix.TryParse(r.Dst, out var dst))
                throw new IpamConfigException($"invalid route destination \"{r.Dst}\" in ipam.routes[{i}]: expected CIDR notation");
            string? gw = null;
            if (!string.IsNullOrEmpty(r.Gw))
            {
                if (!TryParseIP(r.Gw, out var g))
                    throw new IpamConfigException($"invalid route gateway \"{r.Gw}\" in ipam.routes[{i}]");
                gw = g.ToString();
            }
            valid.Add(new Route
            {
                Dst = $"{dst.Address}/{dst.PrefixLength}",
                Gw = gw,
                Mtu = r.Mtu,
                AdvMss = r.AdvMss,
                Priority = r.Priority,
                Table = r.Table,
                Scope = r.Scope,
            });
        }
        return valid;
    }

    /// <summary>An address as Go's net.ParseIP reads one (no zone, IPv4-mapped written as IPv4).</summary>
    internal static bool TryParseIP(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(text) || text.Contains('%') || !IPAddress.TryParse(text, out var a)) return false;
        // IPAddress.TryParse also takes "1", "1.2" and hex forms; Go takes only dotted quads for IPv4.
        if (a.AddressFamily == AddressFamily.InterNetwork && text.Split('.').Length != 4) return false;
        address = a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
        return true;
    }

    /// <summary>The fields static reads, by hand as Go's encoding/json matches keys.</summary>
    private sealed class Wire
    {
        public string? Name, CniVersion;
        public bool HasIpam;
        public List<AddressWire>? Addresses;
        public List<Route?>? Routes;
        public Dns? Dns;
        public List<string?>? ArgsIps, RuntimeIps;

        private static readonly JsonFields Fields = new("name", "cniVersion", "ipam", "runtimeConfig", "args");
        private static readonly JsonFields IpamFields = new("type", "routes", "addresses", "dns");
        private static readonly JsonFields AddressFields = new("address", "gateway");

        public static Wire Read(JsonElement root)
        {
            var w = new Wire();
            foreach (var p in root.EnumerateObject())
            {
                var v = p.Value;
                switch (Fields.Match(p))
                {
                    case "name": w.Name = JsonRead.String(v, "$.name"); break;
                    case "cniVersion": w.CniVersion = JsonRead.String(v, "$.cniVersion"); break;
                    case "ipam": w.ReadIpam(v); break;
                    case "runtimeConfig":
                        if (JsonRead.Object(v, "$.runtimeConfig") is { } rc && JsonFields.TryGet(rc, "ips", out var ips))
                            w.RuntimeIps = JsonRead.NullableStringList(ips, "$.runtimeConfig.ips");
                        break;
                    case "args":
                        if (JsonRead.Object(v, "$.args") is { } a && JsonFields.TryGet(a, "cni", out var cni)
                            && JsonRead.Object(cni, "$.args.cni") is { } c && JsonFields.TryGet(c, "ips", out var argIps))
                            w.ArgsIps = JsonRead.NullableStringList(argIps, "$.args.cni.ips");
                        break;
                }
            }
            return w;
        }

        private void ReadIpam(JsonElement v)
        {
            if (JsonRead.Object(v, "$.ipam") is not { } ipam)
            {
                HasIpam = false;
                return;
            }
            HasIpam = true;
            foreach (var p in ipam.EnumerateObject())
            {
                var x = p.Value;
                switch (IpamFields.Match(p))
                {
                    case "type": JsonRead.String(x, "$.ipam.type"); break;
                    case "routes": Routes = ResultCodec.ReadRoutes(x, "$.ipam.routes"); break;
                    case "addresses": Addresses = JsonRead.List(x, "$.ipam.addresses", ReadAddress); break;
                    case "dns": Dns = ResultCodec.ReadDns(x, "$.ipam.dns"); break;
                }
            }
        }

        private static AddressWire ReadAddress(JsonElement e, string path)
        {
            var a = new AddressWire();
            if (JsonRead.Object(e, path) is not { } obj) return a;
            foreach (var p in obj.EnumerateObject())
            {
                switch (AddressFields.Match(p))
                {
                    case "address": a.Address = JsonRead.String(p.Value, path + ".address"); break;
                    case "gateway": a.Gateway = JsonRead.String(p.Value, path + ".gateway"); break;
                }
            }
            return a;
        }
    }

    private sealed class AddressWire
    {
        public string? Address, Gateway;
    }
}
