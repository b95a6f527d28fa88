using System.Net;
using System.Text.Json;

namespace Cni.Ipam;

/// <summary>A route handed back with the addresses (<c>routes</c> in the ipam config).</summary>
public sealed record IpamRoute(AddressPrefix Destination, IPAddress? Gateway);

/// <summary>The host-local part of a network configuration, validated and canonicalized.</summary>
public sealed class IpamConfig
{
    public const string DefaultDataDir = "/var/lib/cni/networks";
    public static readonly TimeSpan DefaultLockTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The network name: the store's directory under <see cref="DataDir"/>.</summary>
    public required string Name { get; init; }
    public string CniVersion { get; init; } = "";
    public required IReadOnlyList<RangeSet> RangeSets { get; init; }
    public IReadOnlyList<IpamRoute> Routes { get; init; } = [];
    public string DataDir { get; init; } = DefaultDataDir;
    public string? ResolvConf { get; init; }
    /// <summary>Static addresses asked for through CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips, in that order.</summary>
    public IReadOnlyList<IPAddress> RequestedAddresses { get; init; } = [];
    public TimeSpan LockTimeout { get; init; } = DefaultLockTimeout;

    /// <summary>
    /// Reads the whole network configuration (stdin of the plugin) and CNI_ARGS; validates like the reference
    /// host-local's LoadIPAMConfig. Throws <see cref="IpamConfigException"/> with a clear message.
    /// </summary>
    public static IpamConfig Parse(ReadOnlySpan<byte> networkConfigJson, string? cniArgs = null)
    {
        NetworkConfigJson? net;
        try
        {
            net = ConfigJson.Read(networkConfigJson);
        }
        catch (JsonException e)
        {
            throw new IpamConfigException($"failed to parse network configuration: {e.Message}", e);
        }
        if (net is null) throw new IpamConfigException("network configuration is empty");
        var ipam = net.Ipam ?? throw new IpamConfigException("IPAM config missing 'ipam' key");

        string name = net.Name ?? "";
        StoreNames.ValidateNetworkName(name);

        var requested = new List<IPAddress>();
        foreach (var s in ParseCniArgsIPs(cniArgs)) requested.Add(ParseRequested(s, "CNI_ARGS IP"));
        foreach (var s in net.Args?.Cni?.Ips ?? []) requested.Add(ParseRequested(s, "args.cni.ips"));
        foreach (var s in net.RuntimeConfig?.Ips ?? []) requested.Add(ParseRequested(s, "runtimeConfig.ips"));

        // Order as in the reference: runtimeConfig.ipRanges, then the legacy single range, then ranges.
        var rawSets = new List<List<RangeJson>?>();
        rawSets.AddRange(net.RuntimeConfig?.IpRanges ?? []);
        if (!string.IsNullOrEmpty(ipam.Subnet)) rawSets.Add([ipam]);
        rawSets.AddRange(ipam.Ranges ?? []);
        if (rawSets.Count == 0) throw new IpamConfigException("no IP ranges specified");

        var sets = new List<RangeSet>(rawSets.Count);
        int v4 = 0, v6 = 0;
        for (int i = 0; i < rawSets.Count; i++)
        {
            RangeSet set;
            try
            {
                var ranges = new List<AddressRange>();
                foreach (var r in rawSets[i] ?? []) ranges.Add(ParseRange(r));
                set = new RangeSet(ranges);
            }
            catch (IpamConfigException e)
            {
                throw new IpamConfigException($"invalid range set {i}: {e.Message}", e);
            }
            if (set.IsV6) v6++; else v4++;
            sets.Add(set);
        }

        string version = net.CniVersion ?? "";
        if ((v4 > 1 || v6 > 1) && VersionBefore030(version))
            throw new IpamConfigException($"CNI version {version} does not support more than 1 address per family");

        for (int i = 0; i < sets.Count; i++)
            for (int j = i + 1; j < sets.Count; j++)
                if (sets[i].Overlaps(sets[j]))
                    throw new IpamConfigException(
                        $"range set {i} overlaps with {j} ({sets[i]} / {sets[j]}): pool overlaps with other one on this address space");

        var routes = new List<IpamRoute>();
        foreach (var r in ipam.Routes ?? [])
        {
            if (r is null) continue;
            if (!AddressPrefix.TryParse(r.Dst, out var dst))
                throw new IpamConfigException($"invalid route destination '{r.Dst}'");
            IPAddress? gw = null;
            if (!string.IsNullOrEmpty(r.Gw) && !IPAddressMath.TryParse(r.Gw, out gw))
                throw new IpamConfigException($"invalid route gateway '{r.Gw}'");
            routes.Add(new IpamRoute(dst, gw));
        }

        var timeout = DefaultLockTimeout;
        if (ipam.LockTimeoutSeconds is double secs)
        {
            if (!(secs > 0 && secs <= 3600)) throw new IpamConfigException("lockTimeoutSeconds must be between 0 and 3600");
            timeout = TimeSpan.FromSeconds(secs);
        }

        return new IpamConfig
        {
            Name = name,
            CniVersion = version,
            RangeSets = sets,
            Routes = routes,
            DataDir = string.IsNullOrEmpty(ipam.DataDir) ? DefaultDataDir : ipam.DataDir,
            ResolvConf = string.IsNullOrEmpty(ipam.ResolvConf) ? null : ipam.ResolvConf,
            RequestedAddresses = requested,
            LockTimeout = timeout,
        };
    }

    private static AddressRange ParseRange(RangeJson r)
    {
        if (string.IsNullOrEmpty(r.Subnet)) throw new IpamConfigException("range is missing 'subnet'");
        if (!AddressPrefix.TryParse(r.Subnet, out var subnet)) throw new IpamConfigException($"invalid subnet '{r.Subnet}'");
        var excl = new List<AddressPrefix>();
        foreach (var e in r.Exclude ?? [])
        {
            if (AddressPrefix.TryParse(e, out var p)) excl.Add(p);
            else if (IPAddressMath.TryParse(e, out var a)) excl.Add(new AddressPrefix(a, IPAddressMath.BitLength(a)));
            else throw new IpamConfigException($"invalid exclude entry '{e}': not an address or CIDR");
        }
        return AddressRange.Create(subnet, OptionalAddress(r.RangeStart, "rangeStart"), OptionalAddress(r.RangeEnd, "rangeEnd"),
            OptionalAddress(r.Gateway, "gateway"), excl);
    }

    private static IPAddress? OptionalAddress(string? s, string field)
    {
        if (string.IsNullOrEmpty(s)) return null;
        return IPAddressMath.TryParse(s, out var a) ? a : throw new IpamConfigException($"invalid {field} '{s}'");
    }

    /// <summary>An address given as "10.1.2.3" or "10.1.2.3/24" (the prefix is ignored, as in the reference).</summary>
    internal static IPAddress ParseRequested(string? s, string source)
    {
        if (AddressPrefix.TryParse(s, out var p)) return p.Address;
        if (s is not null && IPAddressMath.TryParse(s, out var a)) return a;
        throw new IpamConfigException($"{source}: invalid IP address '{s}'");
    }

    /// <summary>The IP= values of CNI_ARGS ("K=V;K=V"), comma separated. Other keys are ignored.</summary>
    internal static List<string> ParseCniArgsIPs(string? cniArgs)
    {
        var list = new List<string>();
        if (string.IsNullOrEmpty(cniArgs)) return list;
        foreach (var pair in cniArgs.Split(';'))
        {
            if (pair.Length == 0) continue;
            int eq = pair.IndexOf('=');
            if (eq < 0 || pair.IndexOf('=', eq + 1) >= 0) throw new IpamConfigException($"ARGS: invalid pair \"{pair}\"");
            if (pair.AsSpan(0, eq).SequenceEqual("IP"))
                foreach (var v in pair[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    list.Add(v);
        }
        return list;
    }

    private static bool VersionBefore030(string v)
    {
        if (v.Length == 0) return true; // the reference treats a missing version as 0.1.0
        var parts = v.Split('.');
        if (parts.Length != 3 || !int.TryParse(parts[0], out int major) || !int.TryParse(parts[1], out int minor)) return false;
        return major == 0 && minor < 3;
    }
}
