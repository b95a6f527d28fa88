using Cni.Linux.Namespaces;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// The macvlan plugin: the container gets its own MAC on the master (a "physical" NIC), addresses from the
/// delegated IPAM plugin (none without <c>ipam</c>), and the kernel announces them (gratuitous ARP, unsolicited
/// NA) as the link comes up. Option names, defaults and result shape follow the reference plugin; see
/// <see cref="MacvlanConfig"/>. Nothing is created in the host: DEL works from CNI_NETNS and the IPAM plugin.
/// </summary>
public sealed partial class MacvlanPlugin : CniPlugin
{
    /// <summary>The container interface is the only interface of the result.</summary>
    public const int ContainerInterfaceIndex = 0;

    public override string Name => "macvlan";

    /// <summary>Test hook: called at named points of ADD ("after-setup") so tests can force a late failure.</summary>
    internal Action<string>? FaultPoint { get; set; }

    /// <summary>Test hook: create the link in the plugin's namespace and move it, as on kernels that refuse direct creation.</summary>
    internal bool ForceCreateThenMove { get; set; }

    public override Result Add(CniRequest request)
    {
        var o = MacvlanOptions.From(request);
        var tag = new Attachment(request.ContainerId, request.IfName);

        if (o.HasIpam) IpamDelegate.EnsureAvailable(request);
        using var netns = ContainerNamespace.Open(request.Netns);
        using var container = RouteSocket.OpenIn(netns);
        using var host = o.LinkInContainer ? null : RouteSocket.Open();
        var master = o.LinkInContainer
            ? MacvlanMaster.Resolve(container, o, request.Netns)
            : MacvlanMaster.Resolve(host!, o, "the plugin's network namespace");

        using var rollback = new Rollback();
        var link = MacvlanLink.Create(host, netns, container, master, o, tag, rollback, ForceCreateThenMove);

        var result = new Result
        {
            Interfaces = [new Interface { Name = request.IfName, Sandbox = request.Netns }],
        };

        if (o.HasIpam)
        {
            var ipam = IpamDelegate.Add(request);
            rollback.Add("release the IPAM reservation", () => IpamDelegate.Del(request));
            if (ipam.IPs is null || ipam.IPs.Count == 0)
                throw new CniException(ErrorCode.FirstPluginCode, "IPAM plugin returned missing IP config");
            foreach (var ip in ipam.IPs) ip.Interface = ContainerInterfaceIndex;
            result.IPs = ipam.IPs;
            result.Routes = ipam.Routes;
            result.Dns = ipam.Dns;

            bool hasV6 = result.IPs.Any(ip => !ip.IsV4);
            ContainerInterface.WriteSysctls(netns, container, link.Index, request.IfName, enableDad: false, hasV6);
            ContainerInterface.Configure(container, link.Index, request.IfName, result, ContainerInterfaceIndex, enableDad: false);
        }
        else
        {
            container.SetLinkUp(link.Index);
        }

        FaultPoint?.Invoke("after-setup");

        result.Interfaces[0].Mac = Format(container.GetLink(link.Index) ?? link);
        if (request.Config.Dns is { IsEmpty: false } dns)
            result.Dns = dns;

        rollback.Commit();
        return result;
    }

    /// <summary>
    /// DEL, best effort and idempotent: the container interface (if the namespace still exists and the link is
    /// a macvlan), a temporary-named macvlan an interrupted ADD left in the container or the host, and always the
    /// IPAM reservation. The config is only decoded, not validated against the node: a master that is gone
    /// must not keep an address reserved.
    /// </summary>
    public override void Del(CniRequest request)
    {
        var config = MacvlanConfig.Parse(request.StdinData);
        var tag = new Attachment(request.ContainerId, request.IfName);
        string temp = MacvlanLink.TemporaryName(tag);
        var failures = new DelFailures();

        failures.Try("delete the container interface", () =>
        {
            using var netns = ContainerNamespace.TryOpen(request.Netns);
            if (netns is null) return; // gone, and its interfaces with it
            using var container = RouteSocket.OpenIn(netns);
            MacvlanLink.DeleteMacvlanNamed(container, request.IfName);
            MacvlanLink.DeleteMacvlanNamed(container, temp);
        });
        if (!config.LinkInContainer)
        {
            failures.Try("delete a leftover temporary macvlan", () =>
            {
                using var host = RouteSocket.Open();
                MacvlanLink.DeleteMacvlanNamed(host, temp);
            });
        }

        if (!string.IsNullOrEmpty(request.Config.IpamType))
            failures.Try("release the IPAM reservation", () => IpamDelegate.Del(request));

        failures.ThrowIfAny();
    }

    internal static string? Format(Link link) =>
        link.Address is { } a && a.GetAddressBytes().Length == 6 ? HardwareAddress.FromBytes(a.GetAddressBytes()).ToString() : null;
}
