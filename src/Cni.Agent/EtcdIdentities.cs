using System.Text.Json;
using Cni.Etcd;
using Cni.Ipam;
using Cni.Ipam.Cluster;
using Cni.Plugins.ClusterIpam;
using Cni.Spec;

namespace Cni.Agent;

/// <summary>
/// The etcd identities this node's CNI configuration names, for the agent's etcd relay: every <c>etcd</c> object of a
/// cluster-ipam <c>ipam</c> section and of a vxlan <c>cluster</c> object, in the files a runtime reads (.conf,
/// .conflist, .json). Read again on each lookup, so a network added after the agent started is served.
/// </summary>
public static class EtcdIdentities
{
    private static readonly JsonFields PluginFields = new("plugins", "type", "ipam", "cluster");
    private static readonly JsonFields SectionFields = new("type", "etcd");

    /// <summary>The options for <paramref name="identity"/> when a file of <paramref name="directory"/> names it, else null.</summary>
    public static EtcdOptions? Find(string directory, string identity)
    {
        foreach (var options in Discover(directory))
            if (options.Identity == identity) return options;
        return null;
    }

    public static IReadOnlyList<EtcdOptions> Discover(string directory)
    {
        var found = new List<EtcdOptions>();
        string[] files;
        try { files = Directory.GetFiles(directory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return found; }
        Array.Sort(files, StringComparer.Ordinal);
        foreach (string file in files)
        {
            if (!(file.EndsWith(".conf", StringComparison.Ordinal) || file.EndsWith(".conflist", StringComparison.Ordinal) || file.EndsWith(".json", StringComparison.Ordinal)))
                continue;
            try
            {
                found.AddRange(FromFile(File.ReadAllBytes(file)));
            }
            catch (Exception e) when (e is CniException or JsonException or IOException or UnauthorizedAccessException or IpamConfigException)
            {
                // a file that does not parse names nothing
            }
        }
        return found;
    }

    public static IReadOnlyList<EtcdOptions> FromFile(byte[] content) =>
        JsonRead.ReadDocument(content, lenient: true, root =>
        {
            var list = new List<EtcdOptions>();
            if (root.ValueKind != JsonValueKind.Object) return list;
            FromPlugin(root, list);
            foreach (var p in root.EnumerateObject())
                if (PluginFields.Match(p) == "plugins" && p.Value.ValueKind == JsonValueKind.Array)
                    foreach (var plugin in p.Value.EnumerateArray()) FromPlugin(plugin, list);
            return list;
        });

    private static void FromPlugin(JsonElement plugin, List<EtcdOptions> into)
    {
        if (plugin.ValueKind != JsonValueKind.Object) return;
        string type = "";
        JsonElement? ipam = null, cluster = null;
        foreach (var p in plugin.EnumerateObject())
        {
            switch (PluginFields.Match(p))
            {
                case "type": type = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : ""; break;
                case "ipam": ipam = p.Value; break;
                case "cluster": cluster = p.Value; break;
            }
        }
        if (ipam is { } i && Section(i, "cluster-ipam") is { } ipamEtcd)
            into.Add(EtcdClusterStore.Options(ClusterIpamConfig.ReadEtcd(ipamEtcd, "$.ipam.etcd", "cluster-ipam")));
        if (type == "vxlan" && cluster is { } c && Section(c, null) is { } clusterEtcd)
            into.Add(EtcdClusterStore.Options(ClusterIpamConfig.ReadEtcd(clusterEtcd, "$.cluster.etcd", "vxlan cluster")));
    }

    /// <summary>The <c>etcd</c> object of a section (of the given type, when one is asked for).</summary>
    private static JsonElement? Section(JsonElement section, string? wantedType)
    {
        if (section.ValueKind != JsonValueKind.Object) return null;
        string? type = null;
        JsonElement? etcd = null;
        foreach (var p in section.EnumerateObject())
        {
            switch (SectionFields.Match(p))
            {
                case "type": type = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null; break;
                case "etcd": etcd = p.Value; break;
            }
        }
        return wantedType is not null && type != wantedType ? null : etcd;
    }
}
