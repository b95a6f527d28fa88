using Cni.Linux.Interop;

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

    /// <summary>Reads a value, without the trailing newline. A missing key or a refused read is a <see cref="LinuxException"/>.</summary>
    public static unsafe string Read(string key)
    {
        string path = PathOf(key);
        // open/read/close: FileStream would add fstatfs, flock and lseek calls to every sysctl a plugin touches.
        using var fd = SafeFileDescriptor.Open(path, Libc.O_RDONLY);
        byte* buf = stackalloc byte[4096];
        int total = 0;
        while (total < 4096)
        {
            nint n = Libc.read(fd.Number, buf + total, (nuint)(4096 - total));
            if (n < 0)
            {
                throw LinuxException.FromLastError("read " + path);
            }
            if (n == 0)
            {
                break;
            }
            total += (int)n;
        }
        return System.Text.Encoding.UTF8.GetString(buf, total).TrimEnd('\n');
    }

    /// <summary>Writes a value (a single write, as the kernel expects). A missing key or a refused write is a <see cref="LinuxException"/>.</summary>
    public static unsafe void Write(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string path = PathOf(key);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(value);
        using var fd = SafeFileDescriptor.Open(path, Libc.O_WRONLY);
        fixed (byte* b = bytes)
        {
            nint n = Libc.write(fd.Number, b, (nuint)bytes.Length);
            if (n < 0)
            {
                throw LinuxException.FromLastError("write " + path);
            }
        }
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
