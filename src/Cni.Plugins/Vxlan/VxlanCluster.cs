using System.Text.Json;
using Cni.Ipam;
using Cni.Ipam.Cluster;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>How a cluster-mode overlay reaches the other hosts.</summary>
public enum OverlayMode
{
    /// <summary>One layer-2 segment: the vxlan device is a port of the bridge; a flood entry per remote host.</summary>
    L2,
    /// <summary>Layer 3: the vxlan device stands alone; per remote host an FDB and a neighbour entry, a route per block it holds.</summary>
    Routed,
}

/// <summary>
/// The vxlan <c>cluster</c> object: where the hosts of the overlay register their VTEPs (etcd, read with cluster-ipam's
/// own parser), the key prefix, this host's node name and the lease TTL of its registration.
/// <code>"cluster": {"etcd": {...as cluster-ipam...}, "prefix": "/sharpcni", "nodeName": "host1", "ttlSeconds": 30, "mode": "l2"}</code>
/// <c>mode</c>: <c>"l2"</c> (default: one layer-2 segment, flood entries per host) or <c>"routed"</c> (layer 3, as flannel's
/// vxlan backend: a route per remote block, a neighbour and an FDB entry per remote host; see <see cref="RoutedOverlay"/>).
/// </summary>
public sealed record VxlanClusterOptions(EtcdSettings Etcd, string Prefix, string NodeName, int TtlSeconds, OverlayMode Mode = OverlayMode.L2)
{
    public const int DefaultTtlSeconds = 30;
    private static readonly JsonFields Fields = new("etcd", "prefix", "nodeName", "ttlSeconds", "mode");

    /// <summary>Reads the object; an unset nodeName stays null (the host name is applied in <see cref="VxlanOptions.From(CniRequest)"/>).</summary>
    internal static VxlanClusterOptions? Read(JsonElement v, string at)
    {
        if (v.ValueKind == JsonValueKind.Null) return null;
        if (JsonRead.Object(v, at) is not { } obj) throw CniException.InvalidConfig("cluster must be an object");
        EtcdSettings? etcd = null;
        string prefix = ClusterIpamConfig.DefaultPrefix;
        string node = "";
        long ttl = DefaultTtlSeconds;
        var mode = OverlayMode.L2;
        foreach (var p in obj.EnumerateObject())
        {
            switch (Fields.Match(p))
            {
                case "etcd":
                    try { etcd = ClusterIpamConfig.ReadEtcd(p.Value, $"{at}.etcd", "vxlan cluster"); }
                    catch (IpamConfigException e) { throw CniException.InvalidConfig(e.Message); }
                    break;
                case "prefix": prefix = JsonRead.String(p.Value, $"{at}.prefix") ?? ClusterIpamConfig.DefaultPrefix; break;
                case "nodeName": node = JsonRead.String(p.Value, $"{at}.nodeName") ?? ""; break;
                case "ttlSeconds": ttl = JsonRead.NullableInt64(p.Value, $"{at}.ttlSeconds") ?? DefaultTtlSeconds; break;
                case "mode":
                    mode = (JsonRead.String(p.Value, $"{at}.mode") ?? "l2") switch
                    {
                        "l2" or "" => OverlayMode.L2,
                        "routed" => OverlayMode.Routed,
                        var other => throw CniException.InvalidConfig($"vxlan cluster: mode '{other}' is not one of 'l2' (one layer-2 segment) or 'routed' (a route per remote block)"),
                    };
                    break;
            }
        }
        if (etcd is null) throw CniException.InvalidConfig("vxlan cluster: 'etcd' is missing (endpoints, caFile, certFile, keyFile)");
        prefix = prefix.TrimEnd('/');
        if (prefix.Length == 0 || prefix[0] != '/' || prefix.Contains("//", StringComparison.Ordinal) || prefix.Any(c => c < 0x21 || c > 0x7e))
            throw CniException.InvalidConfig($"vxlan cluster: prefix '{prefix}' must start with '/' and hold printable ASCII only");
        if (ttl < 5 || ttl > 86400)
            throw CniException.InvalidConfig($"vxlan cluster: ttlSeconds {ttl} must be between 5 and 86400");
        return new VxlanClusterOptions(etcd, prefix, node, (int)ttl, mode);
    }

    /// <summary>This options with the node name resolved (the host name when none is configured) and validated.</summary>
    internal VxlanClusterOptions WithNode(string hostName)
    {
        string node = string.IsNullOrEmpty(NodeName) ? hostName : NodeName;
        try { KeyLayout.ValidateNodeName(node); }
        catch (IpamConfigException e) { throw CniException.InvalidConfig(e.Message.Replace("cluster-ipam:", "vxlan cluster:", StringComparison.Ordinal)); }
        return this with { NodeName = node };
    }

    /// <summary>The client options; <paramref name="relay"/>: through sharpcni-agent's relay when one serves them (the
    /// plugin), or always directly (the agent itself).</summary>
    public Cni.Etcd.EtcdOptions EtcdOptions(bool relay = true) => new()
    {
        AgentSocket = relay ? Etcd.AgentSocket : null,
        Endpoints = Etcd.Endpoints,
        CaFile = Etcd.CaFile,
        CertFile = Etcd.CertFile,
        KeyFile = Etcd.KeyFile,
        Username = Etcd.Username,
        PasswordFile = Etcd.PasswordFile,
        Timeout = Etcd.Timeout,
    };
}
