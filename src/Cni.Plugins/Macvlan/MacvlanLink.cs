using System.Net.NetworkInformation;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// Creating the container's macvlan link on its master. With the master in the host namespace the link is
/// created directly inside the container's namespace (IFLA_NET_NS_FD in the one RTM_NEWLINK); a kernel that
/// refuses that gets the link created in the host and moved. The link is always born under a temporary name
/// derived from the attachment (<see cref="TemporaryName"/>) and renamed to CNI_IFNAME inside the container, so
/// CNI_IFNAME may equal a name the host already uses; DEL also removes a temporary name an interrupted ADD left.
/// </summary>
public static class MacvlanLink
{
    /// <summary>"mvt" and 12 hex digits of the attachment's hash: unique per (container ID, ifname), 15 bytes.</summary>
    public static string TemporaryName(Attachment tag) => tag.HostInterfaceNameWithPrefix("mvt");

    /// <summary>
    /// Creates the link, registers its deletion with <paramref name="rollback"/>, renames it to
    /// <paramref name="tag"/>'s ifname and returns it as the container sees it (down, no addresses).
    /// </summary>
    /// <param name="host">A socket in the plugin's namespace; null with linkInContainer.</param>
    /// <param name="forceMove">Test hook: take the create-then-move path as if the kernel refused direct creation.</param>
    public static Link Create(RouteSocket? host, NetNs netns, RouteSocket container, Link master, MacvlanOptions o,
        Attachment tag, Rollback rollback, bool forceMove = false)
    {
        string temp = TemporaryName(tag);
        if (container.GetLink(tag.IfName) is not null)
            throw new CniException(ErrorCode.FirstPluginCode, $"container interface name \"{tag.IfName}\" already exists",
                $"an interface named {tag.IfName} is already in {netns.Path}");
        // A leftover of an interrupted ADD of this same attachment.
        DeleteMacvlanNamed(container, temp);

        PhysicalAddress? mac = o.Mac is { } m ? new PhysicalAddress(m.ToBytes()) : null;
        var spec = new MacvlanSpec(temp, master.Index, o.Mode) { Mtu = o.Mtu, Address = mac };

        // Registered before the create, by the temporary name (removed above in both namespaces, so any link by that
        // name is this call's): a failure between the kernel making the link and this call learning its index must
        // not leave it, in the host or in the container.
        rollback.Add($"delete macvlan {temp}", () =>
        {
            if (host is not null) DeleteMacvlanNamed(host, temp);
            DeleteMacvlanNamed(container, temp);
        });
        if (host is null)
        {
            Add(container, spec, master);
        }
        else if (forceMove || !TryAddInPlace(host, spec with { Namespace = netns }, master))
        {
            DeleteMacvlanNamed(host, temp);
            Add(host, spec, master);
            var created = host.GetLink(temp) ?? throw Vanished(temp);
            try
            {
                host.MoveLinkToNamespace(created.Index, netns);
            }
            catch (NetlinkException e)
            {
                host.DeleteLink(created.Index);
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to move macvlan {temp} to {netns.Path}: {e.Message}");
            }
        }

        var link = container.GetLink(temp) ?? throw Vanished(temp);
        rollback.Add($"delete macvlan {tag.IfName}", () => container.DeleteLink(link.Index));

        try
        {
            container.RenameLink(link.Index, tag.IfName);
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to rename macvlan to \"{tag.IfName}\": {e.Message}");
        }
        return container.GetLink(link.Index) ?? throw Vanished(tag.IfName);
    }

    /// <summary>Deletes a macvlan called <paramref name="name"/> if there is one; other kinds are left alone.</summary>
    public static bool DeleteMacvlanNamed(RouteSocket socket, string name)
    {
        if (socket.GetLink(name) is { Kind: "macvlan" } link)
            return socket.DeleteLink(link.Index);
        return false;
    }

    private static bool TryAddInPlace(RouteSocket host, MacvlanSpec spec, Link master)
    {
        try
        {
            host.AddLink(spec);
            return true;
        }
        catch (NetlinkException e) when (e.Errno == Errno.EOPNOTSUPP)
        {
            return false;
        }
        catch (NetlinkException e)
        {
            throw CreateFailed(spec, master, e);
        }
    }

    private static void Add(RouteSocket socket, MacvlanSpec spec, Link master)
    {
        try
        {
            socket.AddLink(spec);
        }
        catch (NetlinkException e)
        {
            throw CreateFailed(spec, master, e);
        }
    }

    private static CniException CreateFailed(MacvlanSpec spec, Link master, NetlinkException e)
    {
        string hint = e.Errno switch
        {
            Errno.EBUSY => $"{master.Name} already has macvlans or is in use; passthru needs the master to itself",
            Errno.EADDRINUSE => "another link on the master already has this MAC address",
            _ => "",
        };
        return new CniException(ErrorCode.FirstPluginCode,
            $"failed to create macvlan on {master.Name} (mode {MacvlanOptions.ModeName(spec.Mode)}): {e.Message}", hint);
    }

    private static CniException Vanished(string name) =>
        new(ErrorCode.Internal, $"macvlan {name} vanished right after it was created");
}
