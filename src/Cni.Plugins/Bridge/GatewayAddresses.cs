using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>The bridge's gateway addresses and the forwarding switches that make it a router.</summary>
public static class GatewayAddresses
{
    /// <summary>
    /// Puts each planned gateway address on the bridge and turns on forwarding for the families that have
    /// one. An address already there is fine. Another IPv4 address, or an IPv6 address whose subnet overlaps,
    /// is an error unless <paramref name="force"/>, which replaces it (the reference's <c>forceAddress</c>).
    /// IPv6 gateway addresses skip DAD: the subnet is ours, and a tentative gateway drops the first packets.
    /// </summary>
    public static void Ensure(RouteSocket host, Link bridge, GatewayPlan plan, bool force)
    {
        if (plan.BridgeAddresses.Count == 0) return;
        var present = host.ListAddresses(bridge.Index);
        foreach (var gw in plan.BridgeAddresses)
        {
            if (present.Any(a => a.Address.Equals(gw.Address) && a.PrefixLength == gw.PrefixLength))
                continue;
            foreach (var a in present)
            {
                if (a.Family != gw.Address.AddressFamily || IsLinkLocal(a)) continue;
                var existing = new IPPrefix(a.Address, a.PrefixLength);
                if (plan.BridgeAddresses.Contains(existing)) continue;
                if (gw.IsV4 || existing.Overlaps(gw))
                {
                    if (!force)
                        throw new CniException(ErrorCode.FirstPluginCode, $"\"{bridge.Name}\" already has an IP address different from {gw}",
                            $"found {existing}; set forceAddress to replace it");
                    host.DeleteAddress(bridge.Index, a.Address, a.PrefixLength);
                }
            }
            try
            {
                if (gw.IsV4)
                    host.AddAddress(bridge.Index, gw.Address, gw.PrefixLength, RouteSocket.BroadcastOf(gw.Address, gw.PrefixLength));
                else
                    host.AddAddress(bridge.Index, gw.Address, gw.PrefixLength, noDad: true);
            }
            catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
            {
                // A concurrent ADD added it first.
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"could not add IP address {gw} to \"{bridge.Name}\": {e.Message}");
            }
        }

        if (plan.HasV4Gateway) EnableForwarding("net/ipv4/ip_forward");
        if (plan.HasV6Gateway) EnableForwarding("net/ipv6/conf/all/forwarding");
    }

    private static bool IsLinkLocal(LinkAddress a) => a.Address.IsIPv6LinkLocal || a.Scope == RouteScope.Link;

    /// <summary>Turns a forwarding sysctl on in the calling thread's namespace (read first: most calls find it on).</summary>
    internal static void EnableForwarding(string key)
    {
        try
        {
            if (Cni.Linux.Sysctl.Read(key) != "1")
                Cni.Linux.Sysctl.Write(key, "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to enable forwarding ({key}): {e.Message}");
        }
    }
}
