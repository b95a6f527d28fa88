using System.Net.Sockets;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// The bridge plugin: a veth pair per container, its host end on a shared Linux bridge that may act as the
/// gateway, addresses from the delegated IPAM plugin, masquerade and macspoofchk through nftables. Option names, defaults and
/// result shape follow the reference plugin; see <see cref="BridgeConfig"/> for the options.
/// </summary>
public sealed partial class BridgePlugin : CniPlugin
{
    /// <summary>Index of the container interface in the result (bridge, host veth, container).</summary>
    public const int ContainerInterfaceIndex = 2;

    private readonly Func<IMasquerade> _masquerade;
    private readonly Func<IInternalNetwork> _internalNetwork;
    private readonly Func<IMacSpoofCheck> _macSpoofCheck;
    private readonly IBridgeUplink? _uplink;

    public BridgePlugin() : this(null, null) { }

    /// <summary>The firewall is given as factories so a call that needs no rule never opens an nftables socket.</summary>
    public BridgePlugin(Func<IMasquerade>? masquerade, Func<IInternalNetwork>? internalNetwork, IBridgeUplink? uplink = null,
        Func<IMacSpoofCheck>? macSpoofCheck = null)
    {
        _masquerade = masquerade ?? Firewall.Masquerade;
        _internalNetwork = internalNetwork ?? Firewall.InternalNetwork;
        _macSpoofCheck = macSpoofCheck ?? Firewall.MacSpoofCheck;
        _uplink = uplink;
    }

    /// <summary>The options of this request: the uplink's when a plugin built on this one gave an uplink.</summary>
    private BridgeOptions OptionsOf(CniRequest request) => _uplink?.Options(request) ?? BridgeOptions.From(request);

    public override string Name => "bridge";

    /// <summary>Test hook: called at named points of ADD ("after-setup") so tests can force a late failure.</summary>
    internal Action<string>? FaultPoint { get; set; }

    public override Result Add(CniRequest request)
    {
        var o = OptionsOf(request);
        var c = o.Config;
        var tag = new Attachment(request.ContainerId, request.IfName);
        if (o.HasIpam) IpamDelegate.EnsureAvailable(request);
        using var netns = OpenNetns(request.Netns);
        using var host = RouteSocket.Open();
        using var container = RouteSocket.OpenIn(netns);
        using var rollback = new Rollback();

        var bridge = BridgeLink.Ensure(host, o.Bridge, o.Mtu, c.PromiscMode, rollback);
        _uplink?.Ensure(host, bridge, rollback);
        var veth = VethPair.Create(host, netns, container, tag, o.Mtu, o.Mac is { } mac ? new(mac.ToBytes()) : null, rollback);
        if (c.MacSpoofCheck)
        {
            // Before the port joins the bridge and comes up, so no frame passes unchecked.
            var containerMac = MacOf(veth.Container)
                ?? throw new CniException(ErrorCode.Internal, $"container interface {request.IfName} has no Ethernet address to guard");
            var macSpoofCheck = _macSpoofCheck();
            macSpoofCheck.Add(tag, o.NetworkName, veth.Host.Name, containerMac);
            rollback.Add("remove macspoofchk rules", () => macSpoofCheck.Remove(tag));
        }
        AttachToBridge(host, veth.Host, bridge, c);

        var result = new Result
        {
            Interfaces =
            [
                new Interface { Name = bridge.Name },
                new Interface { Name = veth.Host.Name },
                new Interface { Name = request.IfName, Mac = Format(veth.Container), Sandbox = request.Netns },
            ],
        };

        if (o.HasIpam)
        {
            var ipam = IpamDelegate.Add(request);
            rollback.Add("release the IPAM reservation", () => IpamDelegate.Del(request));
            result.IPs = ipam.IPs;
            result.Routes = ipam.Routes;
            result.Dns = ipam.Dns;
            if (result.IPs is null || result.IPs.Count == 0)
                throw new CniException(ErrorCode.FirstPluginCode, "IPAM plugin returned missing IP config");

            var plan = GatewayPlan.Apply(result, c, ContainerInterfaceIndex);
            bool hasV6 = result.IPs.Any(ip => !ip.IsV4);
            ContainerInterface.WriteSysctls(netns, container, veth.Container.Index, request.IfName, c.EnableDad, hasV6);
            ContainerInterface.Configure(container, veth.Container.Index, request.IfName, result, ContainerInterfaceIndex, c.EnableDad);

            if (c.ActsAsGateway)
                GatewayAddresses.Ensure(host, bridge, plan, c.ForceAddress);

            if (c.IPMasq)
            {
                var masquerade = _masquerade();
                var addresses = result.IPs.Select(ip => ip.Prefix).ToList();
                masquerade.Add(tag, o.NetworkName, addresses);
                rollback.Add("remove masquerade rules", () => masquerade.Remove(tag));
            }
        }
        else if (!c.DisableContainerInterface)
        {
            container.SetLinkUp(veth.Container.Index);
        }

        if (c.Internal)
            _internalNetwork().Ensure(bridge.Name);

        FaultPoint?.Invoke("after-setup");

        // The host end's and the bridge's MACs are final only now (the bridge's is pinned in BridgeLink.Ensure).
        result.Interfaces[0].Mac = Format(host.GetLink(bridge.Index) ?? bridge);
        result.Interfaces[1].Mac = Format(host.GetLink(veth.Host.Index) ?? veth.Host);
        if (request.Config.Dns is { IsEmpty: false } dns)
            result.Dns = dns;

        rollback.Commit();
        return result;
    }

    private static void AttachToBridge(RouteSocket host, Link hostEnd, Link bridge, BridgeConfig c)
    {
        try
        {
            host.SetLinkMaster(hostEnd.Index, bridge.Index);
        }
        catch (NetlinkException e)
        {
            // The kernel numbers a bridge's ports with 10 bits (BR_MAX_PORTS): the 1,024th is refused with EXFULL.
            string hint = e.Errno == Cni.Linux.Interop.Errno.EXFULL ? $" (bridge {bridge.Name} already has the most ports a Linux bridge can hold, 1023; use another bridge for more containers)" : "";
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to connect \"{hostEnd.Name}\" to bridge {bridge.Name}: {e.Message}{hint}");
        }
        if (c.HairpinMode || c.IsolatePorts)
        {
            try
            {
                host.SetBridgePort(hostEnd.Index, new BridgePortSettings
                {
                    Hairpin = c.HairpinMode ? true : null,
                    Isolated = c.IsolatePorts ? true : null,
                });
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to set bridge port flags (hairpin {c.HairpinMode}, isolated {c.IsolatePorts}) on {hostEnd.Name}: {e.Message}");
            }
        }
        host.SetLinkUp(hostEnd.Index);
    }

    public override void Del(CniRequest request)
    {
        var o = OptionsOf(request);
        var tag = new Attachment(request.ContainerId, request.IfName);
        var failures = new DelFailures();

        // 1. The firewall rules, by tag. First: the kernel releases a commit's transactions after an RCU grace
        // period, which then overlaps with the veth deletion's own wait instead of delaying the end of the call.
        if (o.Config.IPMasq)
            failures.Try("remove masquerade rules", () => _masquerade().Remove(tag));
        if (o.Config.MacSpoofCheck)
            failures.Try("remove macspoofchk rules", () => _macSpoofCheck().Remove(tag));

        // 2. The reservation, always.
        if (o.HasIpam)
            failures.Try("release the IPAM reservation", () => IpamDelegate.Del(request));

        // 3. The interface: by its tag on the host, so neither the namespace nor prevResult is needed.
        bool deleted = false;
        failures.Try("delete the host veth", () =>
        {
            using var host = RouteSocket.Open();
            deleted = VethPair.DeleteByTag(host, tag);
        });
        // An interface our tag does not cover (made by another implementation): delete it by name in the container.
        if (!deleted && request.Netns.Length > 0)
            failures.Try("delete the container interface", () => DeleteContainerVeth(request.Netns, request.IfName));

        failures.ThrowIfAny();
    }

    private static void DeleteContainerVeth(string netnsPath, string ifName)
    {
        NetNs netns;
        try
        {
            netns = NetNs.Open(netnsPath);
        }
        catch (NamespaceNotFoundException)
        {
            return; // the namespace is gone and its interfaces with it
        }
        using (netns)
        {
            using var container = RouteSocket.OpenIn(netns);
            if (container.GetLink(ifName) is { Kind: "veth" } link)
                container.DeleteLink(link.Index);
        }
    }

    internal static NetNs OpenNetns(string path)
    {
        try
        {
            return NetNs.Open(path);
        }
        catch (Exception e) when (e is Cni.Linux.Interop.LinuxException or ArgumentException)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to open netns \"{path}\": {e.Message}");
        }
    }

    internal static string? Format(Link link) => MacOf(link)?.ToString();

    internal static HardwareAddress? MacOf(Link link) =>
        link.Address is { } a && a.GetAddressBytes().Length == 6 ? HardwareAddress.FromBytes(a.GetAddressBytes()) : null;

    internal static AddressFamily FamilyOf(IPPrefix p) => p.IsV4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
}
