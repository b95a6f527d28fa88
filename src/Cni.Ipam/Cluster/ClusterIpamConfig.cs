using System.Net;
using System.Text.Json;
using Cni.Spec;

namespace Cni.Ipam.Cluster;

/// <summary>One pool: a subnet cut into blocks of <see cref="BlockSize"/> that nodes claim.</summary>
public sealed record ClusterPool(AddressPrefix Subnet, int BlockSize, IPAddress? Gateway)
{
    public bool IsV6 => Subnet.IsV6;
    /// <summary>The pool's key in the store: the subnet with '/' as '-' (flannel's lease-key style).</summary>
    public string Id => KeyLayout.CidrKey(Subnet.Network);
    public UInt128 BlockCount => UInt128.One << (BlockSize - Subnet.PrefixLength);
    public UInt128 BlockAddresses => UInt128.One << (Subnet.Bits - BlockSize);

    /// <summary>Block <paramref name="index"/> of the pool.</summary>
    public AddressPrefix Block(UInt128 index) =>
        new(IPAddressMath.FromNumber(Subnet.First + index * BlockAddresses, IsV6), BlockSize);

    /// <summary>Addresses of the pool never handed out: its network address, its broadcast address (IPv4) and the gateway.</summary>
    public bool IsReserved(UInt128 address) =>
        address == Subnet.First || (!IsV6 && address == Subnet.Last) || (Gateway is not null && address == IPAddressMath.ToNumber(Gateway));
}

/// <summary>etcd connection settings as configured (the password itself is read from its file by the client, when needed).</summary>
public sealed record EtcdSettings(IReadOnlyList<Uri> Endpoints, string? CaFile, string? CertFile, string? KeyFile,
    string? Username, string? PasswordFile, TimeSpan Timeout)
{
    /// <summary>
    /// sharpcni-agent's etcd relay (<c>agentSocket</c>; default <see cref="DefaultAgentSocket"/>, "" for none): used when an
    /// agent listens there and serves this same etcd identity, else etcd is reached directly.
    /// </summary>
    public string? AgentSocket { get; init; } = DefaultAgentSocket;

    public const string DefaultAgentSocket = "/run/sharpcni/etcd.sock";
}

/// <summary>The cluster-ipam part of a network configuration, validated.</summary>
public sealed class ClusterIpamConfig
{
    public const string DefaultPrefix = "/sharpcni";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    /// <summary>How long a node keeps an empty block before it goes back to the pool.</summary>
    public static readonly TimeSpan DefaultBlockGrace = TimeSpan.FromMinutes(10);
    /// <summary>Where a node keeps its hint of its own blocks (<see cref="NodeBlockFile"/>).</summary>
    public const string DefaultCacheDir = "/var/lib/cni/cluster-ipam";

    public required string Name { get; init; }
    public string CniVersion { get; init; } = "";
    public required EtcdSettings Etcd { get; init; }
    public string Prefix { get; init; } = DefaultPrefix;
    public required string NodeName { get; init; }
    public required IReadOnlyList<ClusterPool> Pools { get; init; }
    public IReadOnlyList<IpamRoute> Routes { get; init; } = [];
    public DnsSettings? Dns { get; init; }
    public TimeSpan BlockGrace { get; init; } = DefaultBlockGrace;
    /// <summary>The directory of the node's block hint; null (configured as "") for none.</summary>
    public string? CacheDir { get; init; } = DefaultCacheDir;
    /// <summary>
    /// Static addresses asked for, as host-local takes them: CNI_ARGS <c>IP=</c>, <c>args.cni.ips</c> and the
    /// <c>ips</c> capability (<c>runtimeConfig.ips</c>), in that order (a prefix length given with one is ignored).
    /// </summary>
    public IReadOnlyList<IPAddress> RequestedAddresses { get; init; } = [];

    private static readonly JsonFields NetworkFields = new("name", "cniVersion", "ipam", "args", "runtimeConfig");
    private static readonly JsonFields ArgsFields = new("cni");
    private static readonly JsonFields IpsFields = new("ips");
    private static readonly JsonFields IpamFields = new("etcd", "prefix", "nodeName", "pools", "routes", "dns", "blockGraceSeconds", "cacheDir");
    private static readonly JsonFields EtcdFields = new("endpoints", "caFile", "certFile", "keyFile", "username", "passwordFile", "timeoutSeconds", "agentSocket");
    private static readonly JsonFields PoolFields = new("subnet", "blockSize", "gateway");
    private static readonly JsonFields RouteFields = new("dst", "gw");
    private static readonly JsonFields DnsFields = new("nameservers", "domain", "search", "options");

    /// <summary>
    /// Reads the network configuration (the plugin's stdin) and CNI_ARGS (<paramref name="cniArgs"/>, for <c>IP=</c>).
    /// <paramref name="hostName"/> is the default node name.
    /// </summary>
    public static ClusterIpamConfig Parse(ReadOnlySpan<byte> networkConfigJson, string hostName, string? cniArgs = null)
    {
        try
        {
            return JsonRead.ReadDocument(networkConfigJson, lenient: true, root =>
            {
                if (root.ValueKind != JsonValueKind.Object) throw new IpamConfigException("network configuration is not a JSON object");
                string name = "", version = "";
                JsonElement? ipam = null;
                List<string?>? argsIps = null, runtimeIps = null;
                foreach (var p in root.EnumerateObject())
                {
                    switch (NetworkFields.Match(p))
                    {
                        case "name": name = JsonRead.String(p.Value, "$.name") ?? ""; break;
                        case "cniVersion": version = JsonRead.String(p.Value, "$.cniVersion") ?? ""; break;
                        case "ipam": ipam = JsonRead.Object(p.Value, "$.ipam"); break;
                        case "args":
                            if (JsonRead.Object(p.Value, "$.args") is { } args)
                                foreach (var a in args.EnumerateObject())
                                    if (ArgsFields.Match(a) is not null) argsIps = Ips(a.Value, "$.args.cni") ?? argsIps;
                            break;
                        case "runtimeConfig": runtimeIps = Ips(p.Value, "$.runtimeConfig") ?? runtimeIps; break;
                    }
                }
                if (ipam is not { } i) throw new IpamConfigException("IPAM config missing 'ipam' key");
                var requested = new List<IPAddress>();
                foreach (var s in IpamConfig.ParseCniArgsIPs(cniArgs)) requested.Add(IpamConfig.ParseRequested(s, "CNI_ARGS IP"));
                foreach (var s in argsIps ?? []) requested.Add(IpamConfig.ParseRequested(s, "args.cni.ips"));
                foreach (var s in runtimeIps ?? []) requested.Add(IpamConfig.ParseRequested(s, "runtimeConfig.ips"));
                var config = FromIpam(i, name, version, hostName);
                return requested.Count == 0 ? config : config.WithRequested(requested);
            });
        }
        catch (JsonException e)
        {
            throw new IpamConfigException($"failed to parse network configuration: {e.Message}", e);
        }
    }

    /// <summary>The "ips" list of an object (args.cni, runtimeConfig), null when absent.</summary>
    private static List<string?>? Ips(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        List<string?>? ips = null;
        foreach (var p in obj.EnumerateObject())
            if (IpsFields.Match(p) is not null) ips = JsonRead.NullableStringList(p.Value, $"{path}.ips");
        return ips;
    }

    private ClusterIpamConfig WithRequested(IReadOnlyList<IPAddress> requested) => new()
    {
        Name = Name,
        CniVersion = CniVersion,
        Etcd = Etcd,
        Prefix = Prefix,
        NodeName = NodeName,
        Pools = Pools,
        Routes = Routes,
        Dns = Dns,
        BlockGrace = BlockGrace,
        CacheDir = CacheDir,
        RequestedAddresses = requested,
    };

    /// <summary>Reads an <c>ipam</c> object (for the admin command, which may read it out of a conflist).</summary>
    public static ClusterIpamConfig FromIpam(JsonElement ipam, string name, string version, string hostName)
    {
        EtcdSettings? etcd = null;
        string prefix = DefaultPrefix;
        string? node = null;
        var pools = new List<ClusterPool>();
        var routes = new List<IpamRoute>();
        DnsSettings? dns = null;
        var grace = DefaultBlockGrace;
        string? cacheDir = DefaultCacheDir;
        foreach (var p in ipam.EnumerateObject())
        {
            var v = p.Value;
            switch (IpamFields.Match(p))
            {
                case "etcd": etcd = ReadEtcd(v); break;
                case "prefix": prefix = JsonRead.String(v, "$.ipam.prefix") ?? DefaultPrefix; break;
                case "nodeName": node = JsonRead.String(v, "$.ipam.nodeName"); break;
                case "pools":
                    pools.Clear();
                    foreach (var pool in JsonRead.List(v, "$.ipam.pools", Pool) ?? []) pools.Add(pool);
                    break;
                case "routes":
                    routes.Clear();
                    foreach (var r in JsonRead.List(v, "$.ipam.routes", Route) ?? []) if (r is not null) routes.Add(r);
                    break;
                case "dns": dns = ReadDns(v); break;
                case "blockGraceSeconds":
                    double g = JsonRead.Double(v, "$.ipam.blockGraceSeconds");
                    if (!(g >= 0 && g <= 365 * 86400)) throw new IpamConfigException("blockGraceSeconds must be between 0 and one year");
                    grace = TimeSpan.FromSeconds(g);
                    break;
                case "cacheDir":
                    cacheDir = JsonRead.String(v, "$.ipam.cacheDir");
                    if (cacheDir is { Length: > 0 } && (cacheDir[0] != '/' || cacheDir.Contains('\0')))
                        throw new IpamConfigException($"cluster-ipam: cacheDir '{cacheDir}' must be an absolute path (or \"\" for no cache)");
                    if (string.IsNullOrEmpty(cacheDir)) cacheDir = null;
                    break;
            }
        }
        if (etcd is null) throw new IpamConfigException("cluster-ipam: 'etcd' is missing (endpoints, caFile, certFile, keyFile)");
        prefix = prefix.TrimEnd('/');
        if (prefix.Length == 0 || prefix[0] != '/' || prefix.Contains("//", StringComparison.Ordinal) || prefix.Any(c => c < 0x21 || c > 0x7e))
            throw new IpamConfigException($"cluster-ipam: prefix '{prefix}' must start with '/' and hold printable ASCII only");
        node = string.IsNullOrEmpty(node) ? hostName : node;
        KeyLayout.ValidateNodeName(node);
        if (pools.Count == 0) throw new IpamConfigException("cluster-ipam: no pools");
        for (int a = 0; a < pools.Count; a++)
            for (int b = a + 1; b < pools.Count; b++)
                if (pools[a].IsV6 == pools[b].IsV6 &&
                    (pools[a].Subnet.Contains(pools[b].Subnet.Address) || pools[b].Subnet.Contains(pools[a].Subnet.Address)))
                    throw new IpamConfigException($"cluster-ipam: pools {pools[a].Subnet} and {pools[b].Subnet} overlap");
        return new ClusterIpamConfig
        {
            Name = name,
            CniVersion = version,
            Etcd = etcd,
            Prefix = prefix,
            NodeName = node,
            Pools = pools,
            Routes = routes,
            Dns = dns,
            BlockGrace = grace,
            CacheDir = cacheDir,
        };
    }

    private static EtcdSettings ReadEtcd(JsonElement e) => ReadEtcd(e, "$.ipam.etcd", "cluster-ipam");

    /// <summary>
    /// An <c>etcd</c> object (endpoints, caFile, certFile, keyFile, username, passwordFile, timeoutSeconds), validated; shared
    /// with every config that reaches the cluster store. <paramref name="at"/> is its JSON path, <paramref name="owner"/>
    /// starts the messages.
    /// </summary>
    public static EtcdSettings ReadEtcd(JsonElement e, string at, string owner)
    {
        if (JsonRead.Object(e, at) is not { } obj) throw new IpamConfigException($"{owner}: 'etcd' must be an object");
        var endpoints = new List<Uri>();
        string? ca = null, cert = null, key = null, user = null, passwordFile = null;
        string? agentSocket = EtcdSettings.DefaultAgentSocket;
        var timeout = DefaultTimeout;
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (EtcdFields.Match(p))
            {
                case "endpoints":
                    endpoints.Clear();
                    foreach (var s in JsonRead.StringList(v, $"{at}.endpoints") ?? [])
                    {
                        if (!Uri.TryCreate(s, UriKind.Absolute, out var u) || u.Scheme is not ("https" or "http") || u.AbsolutePath != "/" ||
                            !string.IsNullOrEmpty(u.UserInfo) || !string.IsNullOrEmpty(u.Query))
                            // An endpoint with user information is not echoed: it may carry a password.
                            throw new IpamConfigException(u is not null && !string.IsNullOrEmpty(u.UserInfo)
                                ? $"{owner}: etcd endpoint {endpoints.Count + 1} carries user information; it is not an http(s)://host:port URL (use username and passwordFile)"
                                : $"{owner}: etcd endpoint '{s}' is not an http(s)://host:port URL");
                        endpoints.Add(u);
                    }
                    break;
                case "caFile": ca = NonEmpty(JsonRead.String(v, $"{at}.caFile")); break;
                case "certFile": cert = NonEmpty(JsonRead.String(v, $"{at}.certFile")); break;
                case "keyFile": key = NonEmpty(JsonRead.String(v, $"{at}.keyFile")); break;
                case "username": user = NonEmpty(JsonRead.String(v, $"{at}.username")); break;
                case "passwordFile": passwordFile = NonEmpty(JsonRead.String(v, $"{at}.passwordFile")); break;
                case "agentSocket":
                    agentSocket = JsonRead.String(v, $"{at}.agentSocket") ?? EtcdSettings.DefaultAgentSocket;
                    if (agentSocket.Length == 0) agentSocket = null;
                    else if (agentSocket[0] != '/' || System.Text.Encoding.UTF8.GetByteCount(agentSocket) > 107 || agentSocket.Contains('\0'))
                        throw new IpamConfigException($"{owner}: etcd.agentSocket must be an absolute path of at most 107 bytes, or \"\" for none");
                    break;
                case "timeoutSeconds":
                    double t = JsonRead.Double(v, $"{at}.timeoutSeconds");
                    if (!(t > 0 && t <= 300)) throw new IpamConfigException($"{owner}: etcd.timeoutSeconds must be above 0 and at most 300");
                    timeout = TimeSpan.FromSeconds(t);
                    break;
            }
        }
        if (endpoints.Count == 0) throw new IpamConfigException($"{owner}: etcd.endpoints is empty");
        if ((cert is null) != (key is null)) throw new IpamConfigException($"{owner}: etcd.certFile and etcd.keyFile go together");
        if (user is not null && passwordFile is null) throw new IpamConfigException($"{owner}: etcd.username needs etcd.passwordFile");
        return new EtcdSettings(endpoints, ca, cert, key, user, passwordFile, timeout) { AgentSocket = agentSocket };
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static ClusterPool Pool(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) throw new IpamConfigException($"cluster-ipam: {path} must be an object");
        string? subnet = null, gateway = null;
        int? blockSize = null;
        foreach (var p in obj.EnumerateObject())
        {
            switch (PoolFields.Match(p))
            {
                case "subnet": subnet = JsonRead.String(p.Value, $"{path}.subnet"); break;
                case "blockSize": blockSize = JsonRead.NullableInt32(p.Value, $"{path}.blockSize"); break;
                case "gateway": gateway = JsonRead.String(p.Value, $"{path}.gateway"); break;
            }
        }
        if (!AddressPrefix.TryParse(subnet, out var s)) throw new IpamConfigException($"cluster-ipam: pool subnet '{subnet}' is not a CIDR");
        s = s.Network;
        int size = blockSize ?? (s.IsV6 ? 122 : 26);
        if (size < s.PrefixLength || size > s.Bits - 2)
            throw new IpamConfigException($"cluster-ipam: pool {s}: blockSize {size} must be between the pool's prefix length {s.PrefixLength} and {s.Bits - 2}");
        IPAddress? gw;
        if (string.IsNullOrEmpty(gateway))
            gw = IPAddressMath.FromNumber(s.First + 1, s.IsV6); // as host-local: the subnet's first host address
        else if (!IPAddressMath.TryParse(gateway, out gw) || !s.Contains(gw))
            throw new IpamConfigException($"cluster-ipam: pool {s}: gateway '{gateway}' is not an address inside the pool");
        return new ClusterPool(s, size, gw);
    }

    private static IpamRoute? Route(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        string? dst = null, gw = null;
        foreach (var p in obj.EnumerateObject())
        {
            switch (RouteFields.Match(p))
            {
                case "dst": dst = JsonRead.String(p.Value, $"{path}.dst"); break;
                case "gw": gw = JsonRead.String(p.Value, $"{path}.gw"); break;
            }
        }
        if (!AddressPrefix.TryParse(dst, out var d)) throw new IpamConfigException($"cluster-ipam: invalid route destination '{dst}'");
        IPAddress? g = null;
        if (!string.IsNullOrEmpty(gw) && !IPAddressMath.TryParse(gw, out g)) throw new IpamConfigException($"cluster-ipam: invalid route gateway '{gw}'");
        return new IpamRoute(d, g);
    }

    private static DnsSettings? ReadDns(JsonElement e)
    {
        const string at = "$.ipam.dns";
        if (JsonRead.Object(e, at) is not { } obj) return null;
        List<string> ns = [], search = [], options = [];
        string? domain = null;
        foreach (var p in obj.EnumerateObject())
        {
            switch (DnsFields.Match(p))
            {
                case "nameservers": ns = JsonRead.StringList(p.Value, $"{at}.nameservers") ?? []; break;
                case "domain": domain = JsonRead.String(p.Value, $"{at}.domain"); break;
                case "search": search = JsonRead.StringList(p.Value, $"{at}.search") ?? []; break;
                case "options": options = JsonRead.StringList(p.Value, $"{at}.options") ?? []; break;
            }
        }
        if (ns.Count == 0 && domain is null && search.Count == 0 && options.Count == 0) return null;
        return new DnsSettings(ns, domain, search, options);
    }
}
