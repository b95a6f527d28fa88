using System.Net;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Ptp;

/// <summary>
/// The ptp plugin: a veth pair per container with point-to-point routing (see <see cref="PointToPoint"/>), addresses
/// from the delegated IPAM plugin, forwarding turned on for the families in use, and masquerade through nftables with
/// <c>ipMasq</c>. Option names, defaults and result shape (interfaces: host veth, container) follow the reference
/// plugin; the host end is named and aliased by the attachment like the bridge plugin's, so DEL needs neither the
/// container's namespace nor prevResult.
/// </summary>
public sealed partial class PtpPlugin : CniPlugin
{
    /// <summary>Index of the container interface in the result (host veth, container).</summary>
    public const int ContainerInterfaceIndex = 1;

    private readonly Func<IMasquerade> _masquerade;

    public PtpPlugin() : this(null) { }

    /// <summary>The firewall is given as a factory so a call that needs no rule never opens an nftables socket.</summary>
    public PtpPlugin(Func<IMasquerade>? masquerade) => _masquerade = masquerade ?? Firewall.Masquerade;

    public override string Name => "ptp";

    /// <summary>Test hook: called at named points of ADD ("after-setup") so tests can force a late failure.</summary>
    internal Action<string>? FaultPoint { get; set; }

    public override Result Add(CniRequest request)
    {
        var o = PtpOptions.From(request);
        var tag = new Attachment(request.ContainerId, request.IfName);
        using var netns = ContainerNamespace.Open(request.Netns);
        using var host = RouteSocket.Open();
        using var container = RouteSocket.OpenIn(netns);
        using var rollback = new Rollback();

        var ipam = IpamDelegate.Add(request);
        rollback.Add("release the IPAM reservation", () => IpamDelegate.Del(request));
        if (ipam.IPs is null || ipam.IPs.Count == 0)
            throw new CniException(ErrorCode.FirstPluginCode, "IPAM plugin returned missing IP config");
        foreach (var ip in ipam.IPs) ip.Interface = ContainerInterfaceIndex;
        var plan = PointToPoint.Plan(ipam, ContainerInterfaceIndex);
        foreach (var route in ipam.Routes ?? [])
            ContainerInterface.ToEntry(route, 0, null, null); // throws on a bad route before any link exists

        if (plan.Any(p => p.IsV4)) GatewayAddresses.EnableForwarding("net/ipv4/ip_forward");
        if (plan.Any(p => !p.IsV4)) GatewayAddresses.EnableForwarding("net/ipv6/conf/all/forwarding");

        var veth = VethPair.Create(host, netns, container, tag, o.Mtu, null, rollback);

        bool hasV6 = plan.Any(p => !p.IsV4);
        ContainerInterface.WriteSysctls(netns, container, veth.Container.Index, request.IfName, enableDad: false, hasV6);
        ConfigureContainer(container, veth.Container.Index, request.IfName, ipam, plan);
        ConfigureHost(host, veth.Host, plan);

        if (o.IPMasq)
        {
            var masquerade = _masquerade();
            masquerade.Add(tag, o.NetworkName, plan.Select(p => p.Address).ToList());
            rollback.Add("remove masquerade rules", () => masquerade.Remove(tag));
        }

        FaultPoint?.Invoke("after-setup");

        var result = new Result
        {
            Interfaces =
            [
                new Interface { Name = veth.Host.Name, Mac = BridgePlugin.Format(host.GetLink(veth.Host.Index) ?? veth.Host) },
                new Interface { Name = request.IfName, Mac = BridgePlugin.Format(veth.Container), Sandbox = request.Netns },
            ],
            IPs = ipam.IPs,
            Routes = ipam.Routes,
            Dns = ipam.Dns,
        };
        if (request.Config.Dns is { IsEmpty: false } dns)
            result.Dns = dns;

        rollback.Commit();
        return result;
    }

    /// <summary>
    /// The container side: the addresses without their subnet routes (IFA_F_NOPREFIXROUTE; the reference adds them
    /// and deletes the kernel's route afterwards) while the link is down, the link up, the gateway and subnet routes
    /// of each address, then the IPAM result's routes (a route without a gateway goes through the family's first
    /// gateway). Nothing here needs an undo: deleting the veth removes all of it.
    /// </summary>
    internal static void ConfigureContainer(RouteSocket container, int index, string ifName, Result result, IReadOnlyList<PointToPoint> plan)
    {
        IPAddress? v4Gateway = null, v6Gateway = null;
        foreach (var p in plan)
        {
            try
            {
                if (p.IsV4)
                    container.AddAddress(index, p.Address.Address, p.Address.PrefixLength, RouteSocket.BroadcastOf(p.Address.Address, p.Address.PrefixLength), noPrefixRoute: true);
                else
                    container.AddAddress(index, p.Address.Address, p.Address.PrefixLength, noDad: true, noPrefixRoute: true);
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to add IP addr {p.Address} to {ifName}: {e.Message}");
            }
            if (p.IsV4) v4Gateway ??= p.Gateway;
            else v6Gateway ??= p.Gateway;
        }

        try
        {
            container.SetLinkUp(index);
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to set {ifName} up: {e.Message}");
        }

        foreach (var p in plan)
        {
            AddRoute(container, p.GatewayRoute(index), ifName);
            AddRoute(container, p.SubnetRoute(index), ifName);
        }
        foreach (var route in result.Routes ?? [])
            AddRoute(container, ContainerInterface.ToEntry(route, index, v4Gateway, v6Gateway), ifName);
    }

    /// <summary>
    /// The host side: each gateway as a /32 (/128, no DAD) on the host veth, the veth up, and a host route per
    /// container address through it. A host route to the same address that is already there (a leftover of a
    /// container that had the address before) is replaced, so the address always leads to this container.
    /// </summary>
    internal static void ConfigureHost(RouteSocket host, Link hostEnd, IReadOnlyList<PointToPoint> plan)
    {
        foreach (var p in plan)
        {
            try
            {
                host.AddAddress(hostEnd.Index, p.Gateway, p.HostLength, noDad: !p.IsV4, noPrefixRoute: true);
            }
            catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
            {
                // two addresses of the container share one gateway
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to add IP addr {p.Gateway}/{p.HostLength} to {hostEnd.Name}: {e.Message}");
            }
        }
        try
        {
            host.SetLinkUp(hostEnd.Index);
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to set {hostEnd.Name} up: {e.Message}");
        }
        foreach (var p in plan)
        {
            var route = p.HostRoute(hostEnd.Index);
            try
            {
                host.ReplaceRoute(route);
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to add route on host: {p.Address.Address}/{p.HostLength} dev {hostEnd.Name}: {e.Message}");
            }
        }
    }

    private static void AddRoute(RouteSocket socket, RouteEntry route, string ifName)
    {
        try
        {
            socket.AddRoute(route);
        }
        catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
        {
            // the same route for a second address (two addresses sharing a gateway)
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode,
                $"failed to add route '{route.Destination}/{route.PrefixLength} via {route.Gateway?.ToString() ?? "(none)"} dev {ifName}': {e.Message}");
        }
    }

    /// <summary>
    /// DEL, best effort and idempotent: the masquerade state (by tag), the IPAM reservation (always), and the veth pair
    /// from the host side by its tag, which takes the host routes and the gateway addresses with it. Neither the
    /// namespace nor prevResult is needed; an interface our tag does not cover is deleted by name in the container.
    /// </summary>
    public override void Del(CniRequest request)
    {
        var c = PtpConfig.Parse(request.StdinData);
        var tag = new Attachment(request.ContainerId, request.IfName);
        var failures = new DelFailures();

        if (c.IPMasq)
            failures.Try("remove masquerade rules", () => _masquerade().Remove(tag));
        if (!string.IsNullOrEmpty(request.Config.IpamType))
            failures.Try("release the IPAM reservation", () => IpamDelegate.Del(request));

        bool deleted = false;
        failures.Try("delete the host veth", () =>
        {
            using var host = RouteSocket.Open();
            deleted = VethPair.DeleteByTag(host, tag);
        });
        if (!deleted && request.Netns.Length > 0)
        {
            failures.Try("delete the container interface", () =>
            {
                using var netns = ContainerNamespace.TryOpen(request.Netns);
                if (netns is null) return; // gone, and its interfaces with it
                using var container = RouteSocket.OpenIn(netns);
                if (container.GetLink(request.IfName) is { Kind: "veth" } link)
                    container.DeleteLink(link.Index);
            });
        }
        failures.ThrowIfAny();
    }
}
