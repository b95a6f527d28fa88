using System.Net.NetworkInformation;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// A veth pair made for one attachment: the host end in the host namespace, named and aliased by its
/// <see cref="Attachment"/>, and the container end created directly inside the container's namespace
/// (one RTM_NEWLINK, no move, no window where the container interface sits in the host).
/// </summary>
public sealed class VethPair
{
    public required Link Host { get; init; }
    public required Link Container { get; init; }

    /// <summary>
    /// Creates the pair and registers its deletion with <paramref name="rollback"/>. A leftover host end with
    /// the same tag (an ADD that crashed half-way) is removed first; a host name taken by anything else, or a
    /// container interface name already in use, is an error.
    /// </summary>
    public static VethPair Create(RouteSocket host, NetNs containerNs, RouteSocket container, Attachment tag,
        int mtu, PhysicalAddress? containerMac, Rollback rollback)
    {
        string hostName = tag.HostInterfaceName;
        if (container.GetLink(tag.IfName) is not null)
            throw new CniException(ErrorCode.FirstPluginCode, $"container veth name \"{tag.IfName}\" already exists",
                $"an interface named {tag.IfName} is already in {containerNs.Path}");

        if (host.GetLink(hostName) is { } stale)
        {
            if (stale.Alias != tag.Tag)
                throw new CniException(ErrorCode.FirstPluginCode, $"host interface name \"{hostName}\" is taken by another interface",
                    $"expected alias \"{tag.Tag}\", found \"{stale.Alias}\"");
            host.DeleteLink(stale.Index);
        }

        var spec = new VethSpec(hostName, tag.IfName)
        {
            Mtu = mtu > 0 ? mtu : null,
            PeerAddress = containerMac,
            PeerNamespace = containerNs,
        };
        // Registered before the create, by name (this attachment's own, checked free above): a failure between the
        // kernel making the pair and this call learning its index (an ACK or a lookup that fails) must not leave it.
        rollback.Add($"delete veth {hostName}", () =>
        {
            if (host.GetLink(hostName) is { } made) host.DeleteLink(made.Index);
        });
        try
        {
            host.AddLink(spec);
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to create veth pair {hostName}/{tag.IfName}: {e.Message}");
        }
        var hostLink = host.GetLink(hostName)
            ?? throw new CniException(ErrorCode.Internal, $"veth {hostName} vanished right after it was created");

        host.SetLinkAlias(hostLink.Index, tag.Tag);
        var containerLink = container.GetLink(tag.IfName)
            ?? throw new CniException(ErrorCode.Internal, $"container interface {tag.IfName} vanished right after it was created");
        return new VethPair { Host = hostLink, Container = containerLink };
    }

    /// <summary>
    /// The host end of an attachment's veth, found by its deterministic name and confirmed by its alias; null
    /// when there is none.
    /// </summary>
    public static Link? FindHostEnd(RouteSocket host, Attachment tag)
    {
        var link = host.GetLink(tag.HostInterfaceName);
        return link is not null && link.Alias == tag.Tag ? link : null;
    }

    /// <summary>Deletes the attachment's pair from the host side (the container end goes with it). False when there was nothing.</summary>
    public static bool DeleteByTag(RouteSocket host, Attachment tag)
    {
        var link = FindHostEnd(host, tag);
        return link is not null && host.DeleteLink(link.Index);
    }

    internal static bool IsMissing(Exception e) => e is NetlinkException { Errno: Errno.ENODEV or Errno.ENOENT };
}
