using System.Buffers;
using System.Text.Json;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Agent;

/// <summary>One vxlan network in cluster mode, as found in the CNI configuration directory.</summary>
public sealed record OverlayNetwork(string Name, string File, VxlanOptions Options);

/// <summary>
/// Finds the vxlan networks in cluster mode in a CNI configuration directory, as a runtime reads it (files ending
/// .conf, .conflist, .json; a list's plugins get the list's name and cniVersion). Each is validated as the plugin
/// would validate it; a file that does not parse is reported and skipped. Two networks on one VNI: the first
/// (in file-name order) wins.
/// </summary>
public static class OverlayNetworks
{
    private static readonly JsonFields ListFields = new("name", "cniVersion", "plugins", "type");

    public static IReadOnlyList<OverlayNetwork> Discover(string directory, TextWriter log)
    {
        var found = new List<OverlayNetwork>();
        string[] files;
        try
        {
            files = Directory.GetFiles(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.WriteLine($"cannot read the configuration directory {directory}: {e.Message}");
            return found;
        }
        Array.Sort(files, StringComparer.Ordinal);
        foreach (string file in files)
        {
            if (!(file.EndsWith(".conf", StringComparison.Ordinal) || file.EndsWith(".conflist", StringComparison.Ordinal) || file.EndsWith(".json", StringComparison.Ordinal)))
                continue;
            try
            {
                foreach (var network in FromFile(file, File.ReadAllBytes(file)))
                {
                    if (found.FirstOrDefault(n => n.Options.Vni == network.Options.Vni) is { } first)
                    {
                        log.WriteLine($"{file}: network {network.Name} uses vni {network.Options.Vni} like {first.Name} in {first.File}; ignored");
                        continue;
                    }
                    found.Add(network);
                }
            }
            catch (Exception e) when (e is CniException or JsonException or IOException or UnauthorizedAccessException)
            {
                log.WriteLine($"{file}: skipped: {e.Message}");
            }
        }
        return found;
    }

    /// <summary>The vxlan plugin configs in cluster mode in one file (a list, or a single network).</summary>
    public static IReadOnlyList<OverlayNetwork> FromFile(string file, byte[] content)
    {
        var configs = JsonRead.ReadDocument(content, lenient: true, root =>
        {
            var list = new List<byte[]>();
            if (root.ValueKind != JsonValueKind.Object) return list;
            string name = "", version = "", type = "";
            JsonElement? plugins = null;
            foreach (var p in root.EnumerateObject())
            {
                switch (ListFields.Match(p))
                {
                    case "name": name = JsonRead.String(p.Value, "$.name") ?? ""; break;
                    case "cniVersion": version = JsonRead.String(p.Value, "$.cniVersion") ?? ""; break;
                    case "plugins": plugins = p.Value; break;
                    case "type": type = JsonRead.String(p.Value, "$.type") ?? ""; break;
                }
            }
            if (plugins is { ValueKind: JsonValueKind.Array } array)
            {
                foreach (var plugin in array.EnumerateArray())
                    if (IsClusterVxlan(plugin)) list.Add(WithNetwork(plugin, name, version));
            }
            else if (type == "vxlan" && IsClusterVxlan(root))
            {
                list.Add(WithNetwork(root, name, version));
            }
            return list;
        });
        var networks = new List<OverlayNetwork>(configs.Count);
        foreach (var stdin in configs)
        {
            var config = NetworkConfig.Parse(stdin);
            var request = new CniRequest { Command = "ADD", Config = config, StdinData = stdin, Environment = new Dictionary<string, string>() };
            networks.Add(new OverlayNetwork(config.Name ?? "", file, VxlanOptions.From(request)));
        }
        return networks;
    }

    private static bool IsClusterVxlan(JsonElement plugin)
    {
        if (plugin.ValueKind != JsonValueKind.Object) return false;
        bool vxlan = false, cluster = false;
        foreach (var p in plugin.EnumerateObject())
        {
            if (p.NameEquals("type") && p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() == "vxlan") vxlan = true;
            if (p.NameEquals("cluster") && p.Value.ValueKind != JsonValueKind.Null) cluster = true;
        }
        return vxlan && cluster;
    }

    /// <summary>The plugin's config as the runtime hands it over: its own fields plus the list's name and cniVersion.</summary>
    private static byte[] WithNetwork(JsonElement plugin, string name, string version)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteString("cniVersion", version);
            foreach (var p in plugin.EnumerateObject())
            {
                if (p.NameEquals("name") || p.NameEquals("cniVersion")) continue;
                p.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
