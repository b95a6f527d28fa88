using System.Text;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// A container attachment (container ID + interface name). Its <see cref="Tag"/>, "&lt;containerID&gt; &lt;ifname&gt;",
/// is written as the comment of every rule, chain and element made for it, so DEL and GC find them
/// without the container's namespace. Per-attachment chain names are derived from the tag.
/// </summary>
public readonly record struct Attachment(string ContainerId, string IfName)
{
    /// <summary>Longest tag that fits an nft comment (NFTNL_UDATA_COMMENT_MAXLEN - 1).</summary>
    public const int MaxTagLength = 127;

    public static Attachment Create(string containerId, string ifName)
    {
        Names.ValidateContainerId(containerId);
        Names.ValidateInterfaceName(ifName);
        var attachment = new Attachment(containerId, ifName);
        if (Encoding.UTF8.GetByteCount(attachment.Tag) > MaxTagLength)
        {
            throw CniException.InvalidConfig($"container ID too long for a firewall tag ({attachment.Tag.Length} > {MaxTagLength})");
        }
        return attachment;
    }

    public string Tag => ContainerId + " " + IfName;

    /// <summary>Parses "&lt;containerID&gt; &lt;ifname&gt;[ …]" (the first two words of a comment).</summary>
    public static bool TryParseTag(string? comment, out Attachment attachment)
    {
        attachment = default;
        if (comment is null)
        {
            return false;
        }
        string[] words = comment.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length < 2)
        {
            return false;
        }
        attachment = new Attachment(words[0], words[1]);
        return true;
    }

    /// <summary>A chain name for this attachment: prefix + 16 hex digits of FNV-1a 64 of the tag.</summary>
    public string ChainName(string prefix)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(Tag))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        return prefix + hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }

    public override string ToString() => Tag;
}
