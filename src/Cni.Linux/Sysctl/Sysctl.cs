using Microsoft.Win32.SafeHandles;

namespace Cni.Linux;

/// <summary>
/// Reads and writes network sysctls under /proc/sys/net. Keys are slash paths relative to
/// /proc/sys ("net/ipv4/ip_forward", "net/ipv6/conf/eth0/accept_dad") so interface names with
/// dots stay intact. Net sysctls belong to the namespace of the calling thread: run inside
/// <see cref="Namespaces.NetNs.Run{T}"/> to reach a container's values.
/// </summary>
public static class Sysctl
{
    public const string Root = "/proc/sys/";

    /// <summary>Reads a value, without the trailing newline.</summary>
    public static string Read(string key)
    {
        string path = PathOf(key);
        return File.ReadAllText(path).TrimEnd('\n');
    }

    /// <summary>Writes a value (a single write, as the kernel expects).</summary>
    public static void Write(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string path = PathOf(key);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(value);
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, bytes, 0);
    }

    /// <summary>Maps a key to its /proc/sys path after checking it stays under /proc/sys/net.</summary>
    public static string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        string[] parts = key.Split('/');
        if (parts[0] != "net" || parts.Length < 2)
        {
            throw new ArgumentException($"sysctl key must start with net/: '{key}'", nameof(key));
        }
        foreach (string part in parts)
        {
            if (part.Length == 0 || part is "." or ".." || part.Contains('\0'))
            {
                throw new ArgumentException($"invalid sysctl key '{key}'", nameof(key));
            }
        }
        return Root + key;
    }
}
