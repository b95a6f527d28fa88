using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Cni.Ipam.Cluster;

/// <summary>
/// This node's block records as the last call saw them (key, value, mod revision): a hint that lets ADD plan without
/// reading first. Never trusted: every block a commit changes is an expectation at its cached revision.
/// </summary>
public interface INodeBlockCache
{
    /// <summary>The cached blocks, or null when there is no usable hint.</summary>
    IReadOnlyList<StoredValue>? Load();

    /// <summary>Replaces the hint (best effort: a failure to write is ignored).</summary>
    void Save(IReadOnlyList<StoredValue> blocks);
}

/// <summary>
/// <see cref="INodeBlockCache"/> in one small file per etcd cluster, prefix and node under a directory
/// (<c>cacheDir</c>, default /var/lib/cni/cluster-ipam), replaced atomically (write to a temporary file of the
/// process, then rename). A missing, unreadable or unwritable file only means a read before the first commit, as
/// without a cache. A process killed between creating its temporary file and renaming it leaves that file behind:
/// every save removes the temporary files of processes that no longer run.
/// </summary>
public sealed class NodeBlockFile : INodeBlockCache
{
    private readonly string _dir;
    private readonly string _path;

    public NodeBlockFile(string dir, ClusterIpamConfig config)
    {
        _dir = dir;
        // The same prefix on another etcd cluster is other data: the endpoints are part of the name.
        var identity = new StringBuilder(config.Prefix);
        foreach (var e in config.Etcd.Endpoints) identity.Append('\n').Append(e.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped));
        _path = Path.Combine(dir, $"{config.NodeName}-{Fnv1a(identity.ToString()):x16}.json");
    }

    public string FilePath => _path;

    public IReadOnlyList<StoredValue>? Load()
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(_path);
            using var doc = JsonDocument.Parse(bytes);
            var list = new List<StoredValue>();
            foreach (var b in doc.RootElement.GetProperty("blocks").EnumerateArray())
                list.Add(new StoredValue(b.GetProperty("key").GetString()!, b.GetProperty("value").GetBytesFromBase64(), b.GetProperty("mod").GetInt64()));
            return list;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException
                                   or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    public void Save(IReadOnlyList<StoredValue> blocks)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Cni.Spec.AsciiJsonEncoder.Instance }))
        {
            w.WriteStartObject();
            w.WriteStartArray("blocks");
            foreach (var b in blocks)
            {
                w.WriteStartObject();
                w.WriteString("key", b.Key);
                w.WriteNumber("mod", b.ModRevision);
                w.WriteBase64String("value", b.Value);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        string temp = $"{_path}.{Environment.ProcessId}.tmp";
        try
        {
            Directory.CreateDirectory(_dir);
            File.WriteAllBytes(temp, buffer.WrittenSpan.ToArray());
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }
        }
        RemoveAbandonedTemporaryFiles();
    }

    /// <summary>
    /// Removes this file's temporary files (<c>FILE.PID.tmp</c>) whose process is gone (no <c>/proc/PID</c>): what a
    /// save killed before its rename left. A live process's file is its save in progress and is left alone (a reused
    /// PID only delays the removal to a later save).
    /// </summary>
    internal void RemoveAbandonedTemporaryFiles(string procRoot = "/proc")
    {
        string prefix = Path.GetFileName(_path) + ".";
        try
        {
            foreach (string file in Directory.EnumerateFiles(_dir, prefix + "*.tmp"))
            {
                string name = Path.GetFileName(file);
                if (name.Length <= prefix.Length + 4) continue;
                var pid = name.AsSpan(prefix.Length, name.Length - prefix.Length - 4);
                if (!int.TryParse(pid, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) ||
                    n == Environment.ProcessId || Directory.Exists($"{procRoot}/{n}")) continue;
                try { File.Delete(file); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No directory or no right to list it: nothing this process could have left there either.
        }
    }

    private static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }
}
