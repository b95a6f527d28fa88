using System.Text;

namespace Cni.Plugins;

/// <summary>
/// How a plugin marks what it creates on the host for one attachment (container ID + interface name), so
/// DEL, CHECK and GC find it without the container's namespace and without prevResult:
/// the host end of a veth gets a deterministic name (<see cref="HostInterfaceName"/>) and an alias
/// (IFLA_IFALIAS, <see cref="Alias"/>) that says whose it is.
/// </summary>
public readonly record struct AttachmentTag(string ContainerId, string IfName)
{
    /// <summary>"veth" and 11 hex digits (44 bits) of FNV-1a(containerID NUL ifname): 15 bytes, the kernel's limit.
    /// A plain hash on purpose: SHA-256 would load OpenSSL, milliseconds of start-up for no benefit here.</summary>
    public string HostInterfaceName => HostInterfaceNameWithPrefix("veth");

    /// <summary>A deterministic name with another prefix (up to 4 characters), for other plugins' host ends.</summary>
    public string HostInterfaceNameWithPrefix(string prefix)
    {
        if (prefix.Length is 0 or > 4) throw new ArgumentException("prefix must be 1 to 4 characters", nameof(prefix));
        ulong hash = Fnv1a64(Encoding.UTF8.GetBytes(ContainerId + "\0" + IfName));
        return prefix + hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture)[..(15 - prefix.Length)];
    }

    /// <summary>"&lt;containerID&gt; &lt;ifname&gt;", stored as the host interface's alias.</summary>
    public string Alias => $"{ContainerId} {IfName}";

    public override string ToString() => Alias;

    /// <summary>64-bit FNV-1a (offset basis 14695981039346656037, prime 1099511628211).</summary>
    internal static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in data)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }
}
