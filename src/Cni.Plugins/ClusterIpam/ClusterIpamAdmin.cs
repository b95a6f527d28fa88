using System.Text.Json;
using Cni.Etcd;
using Cni.Ipam;
using Cni.Ipam.Cluster;
using Cni.Spec;

namespace Cni.Plugins.ClusterIpam;

/// <summary>
/// The admin side of cluster-ipam, run with no CNI_COMMAND and a subcommand:
/// <code>
/// cluster-ipam list --config FILE                 pools, nodes, blocks and allocations as JSON
/// cluster-ipam release-node NODE --config FILE    returns the blocks of a node that left the cluster
/// </code>
/// FILE is the network configuration or conflist that holds the cluster-ipam "ipam" section (the same file the
/// runtime uses). Exit 0 on success, 1 on failure (message on stderr), 2 on a usage error, 3 when etcd is unavailable.
/// </summary>
public static class ClusterIpamAdmin
{
    private const string Usage = "usage: cluster-ipam list --config FILE | cluster-ipam release-node NODE --config FILE";

    public static int Main(string[] args, Stream stdout, TextWriter stderr)
    {
        string? configPath = null;
        var positional = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--config" or "-c" && i + 1 < args.Length) configPath = args[++i];
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal)) configPath = args[i]["--config=".Length..];
            else if (args[i] is "-h" or "--help") { stderr.WriteLine(Usage); return 0; }
            else positional.Add(args[i]);
        }
        if (configPath is null || positional.Count == 0) { stderr.WriteLine(Usage); return 2; }
        try
        {
            var config = LoadConfig(configPath);
            using var store = new EtcdClusterStore(new EtcdClient(EtcdClusterStore.Options(config.Etcd)));
            switch (positional[0])
            {
                case "list" when positional.Count == 1:
                    List(config, store, stdout);
                    return 0;
                case "release-node" when positional.Count == 2:
                    int n = new ClusterAllocator(config, store).ReleaseNode(positional[1]);
                    stderr.WriteLine($"cluster-ipam: released {n} block(s) of node {positional[1]} and its allocation records");
                    return 0;
                default:
                    stderr.WriteLine(Usage);
                    return 2;
            }
        }
        catch (Exception e) when (e is CniException or IpamException or EtcdException or IOException or UnauthorizedAccessException or JsonException)
        {
            stderr.WriteLine(e.Message.StartsWith("cluster-ipam", StringComparison.Ordinal) ? e.Message : $"cluster-ipam: {e.Message}");
            return e is ClusterStoreUnavailableException or EtcdUnavailableException ? 3 : 1;
        }
    }

    /// <summary>A network config or conflist; the first "ipam" section of type cluster-ipam.</summary>
    internal static ClusterIpamConfig LoadConfig(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        return JsonRead.ReadDocument(bytes, lenient: true, root =>
        {
            string name = JsonFields.TryGet(root, "name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
            string version = JsonFields.TryGet(root, "cniVersion", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            if (FindIpam(root) is { } ipam) return ClusterIpamConfig.FromIpam(ipam, name, version, Environment.MachineName);
            if (JsonFields.TryGet(root, "plugins", out var plugins) && plugins.ValueKind == JsonValueKind.Array)
                foreach (var plugin in plugins.EnumerateArray())
                    if (FindIpam(plugin) is { } i) return ClusterIpamConfig.FromIpam(i, name, version, Environment.MachineName);
            throw new IpamConfigException($"{path} has no \"ipam\" section of type cluster-ipam");
        });
    }

    private static JsonElement? FindIpam(JsonElement obj)
    {
        if (obj.ValueKind != JsonValueKind.Object || !JsonFields.TryGet(obj, "ipam", out var ipam) || ipam.ValueKind != JsonValueKind.Object) return null;
        return JsonFields.TryGet(ipam, "type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "cluster-ipam" ? ipam : null;
    }

    private static void List(ClusterIpamConfig config, IClusterStore store, Stream stdout)
    {
        var keys = new KeyLayout(config.Prefix);
        var results = store.Read([
            new KeyQuery(keys.Claims, Prefix: true),
            new KeyQuery(keys.Blocks, Prefix: true),
            new KeyQuery(keys.Attachments, Prefix: true),
        ]);
        var blocks = new List<BlockRecord>();
        foreach (var b in results[1]) blocks.Add(BlockRecord.Decode(b.Value));
        using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartArray("pools");
        foreach (var pool in config.Pools)
        {
            int claimed = 0;
            foreach (var c in results[0]) if (c.Key.StartsWith(keys.PoolClaims(pool), StringComparison.Ordinal)) claimed++;
            w.WriteStartObject();
            w.WriteString("subnet", pool.Subnet.ToString());
            w.WriteNumber("blockSize", pool.BlockSize);
            if (pool.Gateway is not null) w.WriteString("gateway", IPAddressMath.Format(pool.Gateway));
            w.WriteString("blocks", pool.BlockCount.ToString());
            w.WriteNumber("claimedBlocks", claimed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        var nodes = new SortedDictionary<string, (int Blocks, int Allocations)>(StringComparer.Ordinal);
        foreach (var b in blocks)
        {
            nodes.TryGetValue(b.Node, out var t);
            nodes[b.Node] = (t.Blocks + 1, t.Allocations + b.Allocations.Count);
        }
        w.WriteStartArray("nodes");
        foreach (var (node, (nb, na)) in nodes)
        {
            w.WriteStartObject();
            w.WriteString("name", node);
            w.WriteNumber("blocks", nb);
            w.WriteNumber("allocations", na);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("blocks");
        foreach (var b in blocks)
        {
            w.WriteStartObject();
            w.WriteString("cidr", b.Cidr.ToString());
            w.WriteString("pool", b.Pool.ToString());
            w.WriteString("node", b.Node);
            w.WriteNumber("allocations", b.Allocations.Count);
            if (b.EmptySince != 0) w.WriteString("emptySince", DateTimeOffset.FromUnixTimeSeconds(b.EmptySince).ToString("u", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("allocations");
        foreach (var b in blocks)
        {
            foreach (var (offset, handle) in b.Allocations)
            {
                int slash = handle.LastIndexOf('/');
                w.WriteStartObject();
                w.WriteString("address", IPAddressMath.Format(b.AddressAt(offset)));
                w.WriteString("node", b.Node);
                w.WriteString("containerID", slash > 0 ? handle[..slash] : handle);
                w.WriteString("ifname", slash > 0 ? handle[(slash + 1)..] : "");
                w.WriteEndObject();
            }
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        stdout.WriteByte((byte)'\n');
    }
}
