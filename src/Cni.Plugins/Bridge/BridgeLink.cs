using System.Net.NetworkInformation;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>The host bridge: created when missing, shared by every attachment, never removed by DEL.</summary>
public static class BridgeLink
{
    /// <summary>
    /// Returns the bridge named <paramref name="name"/>, creating it when missing. Two ADDs that both find no
    /// bridge race on the create: EEXIST is success, and the link is re-read and checked to be a bridge.
    /// A bridge we create gets an explicit MAC so it keeps it as ports come and go; an existing bridge has
    /// its current MAC written back, which pins it the same way.
    /// </summary>
    public static Link Ensure(RouteSocket host, string name, int mtu, bool promiscuous, Rollback? rollback = null)
    {
        var link = host.GetLink(name);
        if (link is null)
        {
            try
            {
                host.AddLink(new BridgeSpec(name) { Mtu = mtu > 0 ? mtu : null, Address = RandomLocalMac() });
                // A failed ADD must not leave behind a bridge it made, unless another attachment joined it meanwhile.
                rollback?.Add($"delete bridge {name} (created by this ADD)", () => DeleteIfUnused(host, name));
            }
            catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
            {
                // Another ADD created it between our lookup and our create: fine.
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to create bridge \"{name}\": {e.Message}");
            }
            link = host.GetLink(name)
                ?? throw new CniException(ErrorCode.TryAgainLater, $"bridge \"{name}\" disappeared while it was being set up");
        }
        if (link.Kind != "bridge")
            throw new CniException(ErrorCode.FirstPluginCode, $"\"{name}\" already exists but is not a bridge",
                $"link kind is \"{link.Kind ?? "none"}\"");

        if (link.Address is { } mac && mac.GetAddressBytes().Length == 6 && !IsZero(mac))
            host.SetLinkAddress(link.Index, mac);
        if (promiscuous && (link.Flags & RouteSocket.IFF_PROMISC) == 0)
            host.SetLinkPromiscuous(link.Index, true);
        if (!link.IsUp)
            host.SetLinkUp(link.Index);

        // We own the routes of this interface: no router advertisements (best effort, as the reference).
        HostSysctl.TryWrite($"net/ipv6/conf/{name}/accept_ra", "0");
        return host.GetLink(link.Index) ?? link;
    }

    /// <summary>Deletes bridge <paramref name="name"/> when no link is its port (another ADD may have joined it meanwhile).</summary>
    internal static void DeleteIfUnused(RouteSocket host, string name)
    {
        if (host.GetLink(name) is not { Kind: "bridge" } bridge) return;
        foreach (var l in host.ListLinks())
            if (l.MasterIndex == bridge.Index) return;
        host.DeleteLink(bridge.Index);
    }

    /// <summary>
    /// A random, locally administered, unicast MAC. A MAC needs no cryptographic randomness, and
    /// <see cref="Random.Shared"/> (seeded from the kernel) does not load OpenSSL the way
    /// RandomNumberGenerator does, which costs a plugin a millisecond at start.
    /// </summary>
    public static PhysicalAddress RandomLocalMac()
    {
        byte[] b = new byte[6];
        Random.Shared.NextBytes(b);
        b[0] = (byte)((b[0] & 0xFE) | 0x02);
        return new PhysicalAddress(b);
    }

    private static bool IsZero(PhysicalAddress mac)
    {
        foreach (byte x in mac.GetAddressBytes())
            if (x != 0) return false;
        return true;
    }
}
