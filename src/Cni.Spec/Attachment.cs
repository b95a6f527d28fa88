using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// One attachment of a container to a network: container ID and interface name. It is what GC's
/// <c>cni.dev/valid-attachments</c> lists (JSON <c>{"containerID", "ifname"}</c>), and how plugins tag what
/// they create so DEL, CHECK and GC find it without the container's namespace: <see cref="Tag"/>,
/// "&lt;containerID&gt; &lt;ifname&gt;", is a host veth's alias and the comment of nftables elements;
/// <see cref="HostInterfaceName"/> is a host veth's name.
/// </summary>
public readonly record struct Attachment
{
    public Attachment(string containerId, string ifName)
    {
        ContainerId = containerId ?? "";
        IfName = ifName ?? "";
    }

    /// <summary>JSON <c>containerID</c>.</summary>
    public string ContainerId { get; }

    /// <summary>JSON <c>ifname</c>.</summary>
    public string IfName { get; }

    private static readonly JsonFields Fields = new("containerID", "ifname");

    /// <summary>
    /// A JSON list of <c>{"containerID", "ifname"}</c> objects (null for JSON null); a missing or null name reads as
    /// empty, other fields are ignored, anything else is a JsonException.
    /// </summary>
    internal static List<Attachment>? ReadList(JsonElement e, string path) =>
        JsonRead.List(e, path, static (item, itemPath) =>
        {
            string? containerId = null, ifName = null;
            foreach (var p in JsonRead.RequiredObject(item, itemPath).EnumerateObject())
            {
                switch (Fields.Match(p, itemPath))
                {
                    case "containerID": containerId = JsonRead.String(p.Value, itemPath + ".containerID"); break;
                    case "ifname": ifName = JsonRead.String(p.Value, itemPath + ".ifname"); break;
                }
            }
            return new Attachment(containerId!, ifName!);
        });

    /// <summary>An attachment whose names are validated (before they touch a path or the kernel).</summary>
    public static Attachment Create(string containerId, string ifName)
    {
        Names.ValidateContainerId(containerId);
        Names.ValidateInterfaceName(ifName);
        return new Attachment(containerId, ifName);
    }

    /// <summary>"&lt;containerID&gt; &lt;ifname&gt;": a host veth's alias, the comment of firewall elements.</summary>
    public string Tag => ContainerId + " " + IfName;

    /// <summary>Parses a tag, or the first two words of a comment that starts with one.</summary>
    public static bool TryParseTag(string? text, out Attachment attachment)
    {
        attachment = default;
        string[] words = text?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (words.Length < 2)
        {
            return false;
        }
        attachment = new Attachment(words[0], words[1]);
        return true;
    }

    /// <summary>64-bit FNV-1a of "containerID NUL ifname": short deterministic names and keys derive from it.
    /// A plain hash on purpose: SHA-256 would load OpenSSL, milliseconds of start-up for no benefit here.</summary>
    public ulong Hash => Fnv1a64(Encoding.UTF8.GetBytes(ContainerId + "\0" + IfName));

    /// <summary><see cref="Hash"/> as 16 hex digits.</summary>
    public string HashHex => Hash.ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>The host end of the attachment's veth: "veth" and 11 hex digits (44 bits) of <see cref="Hash"/>, 15 bytes, the kernel's limit.</summary>
    public string HostInterfaceName => HostInterfaceNameWithPrefix("veth");

    /// <summary>A deterministic name with another prefix (up to 4 characters), for other plugins' host ends.</summary>
    public string HostInterfaceNameWithPrefix(string prefix)
    {
        if (prefix.Length is 0 or > 4) throw new ArgumentException("prefix must be 1 to 4 characters", nameof(prefix));
        return prefix + HashHex[..(15 - prefix.Length)];
    }

    /// <summary>64-bit FNV-1a (offset basis 14695981039346656037, prime 1099511628211).</summary>
    public static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in data)
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return hash;
    }

    public override string ToString() => Tag;
}
