using System.Security.Cryptography;
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
    /// <summary>"veth" and 11 hex digits of SHA-256(containerID NUL ifname): 15 bytes, the kernel's limit.</summary>
    public string HostInterfaceName => HostInterfaceNameWithPrefix("veth");

    /// <summary>A deterministic name with another prefix (up to 4 characters), for other plugins' host ends.</summary>
    public string HostInterfaceNameWithPrefix(string prefix)
    {
        if (prefix.Length is 0 or > 4) throw new ArgumentException("prefix must be 1 to 4 characters", nameof(prefix));
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(ContainerId + "\0" + IfName), hash);
        return prefix + Convert.ToHexStringLower(hash)[..(15 - prefix.Length)];
    }

    /// <summary>"&lt;containerID&gt; &lt;ifname&gt;", stored as the host interface's alias.</summary>
    public string Alias => $"{ContainerId} {IfName}";

    public override string ToString() => Alias;
}
