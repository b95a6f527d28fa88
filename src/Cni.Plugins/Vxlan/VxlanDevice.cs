using System.Net;
using System.Net.NetworkInformation;
using Cni.Linux.Ethtool;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>What differs between a vxlan device and the config: attributes fixed at creation, and ones set in place.</summary>
public sealed record DeviceDrift(IReadOnlyList<string> FixedAtCreation, IReadOnlyList<string> Adjustable)
{
    public bool None => FixedAtCreation.Count == 0 && Adjustable.Count == 0;
    public IEnumerable<string> All => FixedAtCreation.Concat(Adjustable);
}

/// <summary>
/// The VTEP: one vxlan device per VNI ("vxlan&lt;vni&gt;"), a port of the network's bridge, created once and
/// re-created when an attribute that is fixed at creation no longer matches the config. Its alias
/// (<see cref="Tag"/>) says it is ours, so only our devices are ever re-created or removed.
/// </summary>
public static class VxlanDevice
{
    public static string Tag(uint vni) => "sharpcni vxlan " + vni.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The device the config asks for.</summary>
    public static VxlanSpec Desired(VxlanOptions o, Underlay underlay, int mtu) => new(o.DeviceName, o.Vni)
    {
        Port = o.Port,
        Local = underlay.Local,
        Group = o.Group,
        UnderlayIndex = underlay.Device.Index,
        Learning = o.Learning,
        Ttl = o.Ttl,
        Mtu = mtu,
        Address = new PhysicalAddress((o.VtepMac ?? VtepAddress.Derive(o.Vni, underlay.Local)).ToBytes()),
    };

    /// <summary>Compares a link with the desired device. Pure.</summary>
    public static DeviceDrift Compare(Link link, VxlanSpec desired)
    {
        var fixedAtCreation = new List<string>();
        var adjustable = new List<string>();
        if (link.Kind != "vxlan" || link.Vxlan is not { } v)
        {
            fixedAtCreation.Add($"kind is {link.Kind ?? "none"}, not vxlan");
            return new DeviceDrift(fixedAtCreation, adjustable);
        }
        if (v.Vni != desired.Vni) fixedAtCreation.Add($"vni {v.Vni}, want {desired.Vni}");
        if (desired.Port is { } port && v.Port != port) fixedAtCreation.Add($"port {v.Port}, want {port}");
        if (!Equals(v.Local, desired.Local)) fixedAtCreation.Add($"local {Show(v.Local)}, want {Show(desired.Local)}");
        if (!Equals(v.Group, desired.Group)) fixedAtCreation.Add($"group {Show(v.Group)}, want {Show(desired.Group)}");
        if (desired.UnderlayIndex is { } dev && v.UnderlayIndex != dev) fixedAtCreation.Add($"underlay device #{v.UnderlayIndex}, want #{dev}");
        if (desired.Learning is { } learning && v.Learning != learning) fixedAtCreation.Add($"learning {v.Learning}, want {learning}");
        if (desired.Ttl is { } ttl && v.Ttl != ttl) fixedAtCreation.Add($"ttl {v.Ttl}, want {ttl}");
        if (desired.Mtu is { } mtu && link.Mtu != mtu) adjustable.Add($"mtu {link.Mtu}, want {mtu}");
        if (desired.Address is { } mac && !mac.Equals(link.Address)) adjustable.Add($"address {Show(link.Address)}, want {Show(mac)}");
        return new DeviceDrift(fixedAtCreation, adjustable);
    }

    /// <summary>
    /// Makes the device match the config and be an up port of <paramref name="bridge"/> with exactly the
    /// configured flood list. The caller holds the network's lock. Returns the device.
    /// </summary>
    public static Link Ensure(RouteSocket host, VxlanOptions o, Underlay underlay, int mtu, Link bridge)
    {
        var desired = Desired(o, underlay, mtu);
        string tag = Tag(o.Vni);
        var link = host.GetLink(desired.Name);
        if (link is not null)
        {
            if (link.Alias != tag)
                throw new CniException(ErrorCode.FirstPluginCode, $"interface \"{desired.Name}\" exists and was not created by this plugin",
                    $"expected alias \"{tag}\", found \"{link.Alias}\"; remove it or use another vni");
            var drift = Compare(link, desired);
            if (drift.FixedAtCreation.Count > 0)
            {
                // Re-created in place: the bridge's other ports stay; traffic pauses for the time of two netlink calls.
                host.DeleteLink(link.Index);
                link = null;
            }
            else
            {
                if (desired.Mtu is { } m && link.Mtu != m) host.SetLinkMtu(link.Index, m);
                if (desired.Address is { } a && !a.Equals(link.Address)) host.SetLinkAddress(link.Index, a);
            }
        }
        if (link is null)
        {
            try
            {
                host.AddLink(desired);
            }
            catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
            {
                throw new CniException(ErrorCode.FirstPluginCode,
                    $"cannot create vxlan device {desired.Name}: another device already uses vni {o.Vni} on port {o.Port}",
                    e.KernelMessage ?? e.Message);
            }
            catch (NetlinkException e)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to create vxlan device {desired.Name}: {e.Message}");
            }
            link = host.GetLink(desired.Name)
                ?? throw new CniException(ErrorCode.Internal, $"vxlan device {desired.Name} vanished right after it was created");
            host.SetLinkAlias(link.Index, tag);
        }

        SetTxChecksumming(desired.Name, o.DisableTxChecksumOffload);
        if (IsRouted(o))
        {
            // Routed mode: the device stands alone (the host routes between the bridge and it).
            if (link.MasterIndex is > 0)
                host.SetLinkNoMaster(link.Index);
            RoutedBridge.Prepare(bridge.Name);
        }
        else if (link.MasterIndex != bridge.Index)
            host.SetLinkMaster(link.Index, bridge.Index);
        if (!link.IsUp)
            host.SetLinkUp(link.Index);
        if (o.Cluster is null)
            FloodList.Reconcile(host, link.Index, underlay.FloodTargets(o));
        else
            FloodList.AddMissing(host, link.Index, underlay.FloodTargets(o)); // the registered hosts' entries are the cluster mode's

        return host.GetLink(link.Index) ?? link;
    }

    /// <summary>CHECK: the device exists, is ours, matches the config, is an up port of the bridge, and its flood list is exact.</summary>
    public static void Check(RouteSocket host, VxlanOptions o, Underlay underlay, int mtu, Link bridge)
    {
        var desired = Desired(o, underlay, mtu);
        var link = host.GetLink(desired.Name)
            ?? throw Failed($"vxlan device {desired.Name} was not found");
        var drift = Compare(link, desired);
        if (!drift.None)
            throw Failed($"vxlan device {desired.Name} does not match the config", string.Join("; ", drift.All));
        if (IsRouted(o))
        {
            if (link.MasterIndex is > 0)
                throw Failed($"vxlan device {desired.Name} is a bridge port; routed mode keeps it apart from bridge {bridge.Name}");
            RoutedBridge.Check(bridge.Name);
        }
        else if (link.MasterIndex != bridge.Index)
            throw Failed($"vxlan device {desired.Name} is not attached to bridge {bridge.Name}");
        if (!link.IsUp)
            throw Failed($"vxlan device {desired.Name} is down");
        if (o.DisableTxChecksumOffload && Ethtool.GetTxChecksumming(desired.Name))
            throw Failed($"vxlan device {desired.Name} has transmit checksum offload on; the config turns it off");

        var want = underlay.FloodTargets(o);
        var (missing, extra) = FloodList.Plan(FloodList.Current(host.ListFdbEntries(link.Index), link.Index), want);
        if (o.Cluster is not null) extra = []; // cluster mode: the registered hosts' entries come and go with their leases
        if (missing.Count > 0 || extra.Count > 0)
            throw Failed($"vxlan device {desired.Name} flood list does not match the config",
                $"missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
    }

    /// <summary>Turns transmit checksum offload off when asked, back on when no longer asked (declarative).</summary>
    private static void SetTxChecksumming(string name, bool disable)
    {
        try
        {
            bool on = Ethtool.GetTxChecksumming(name);
            if (disable == on) Ethtool.SetTxChecksumming(name, !disable);
        }
        catch (LinuxException e) when (!disable)
        {
            _ = e; // re-enabling is best effort: a device that cannot report it was never turned off by us
        }
        catch (LinuxException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"failed to turn off transmit checksum offload on {name}: {e.Message}");
        }
    }

    private static bool IsRouted(VxlanOptions o) => o.Cluster is { Mode: OverlayMode.Routed };

    private static string Show(object? value) => value?.ToString() ?? "none";

    private static CniException Failed(string msg, string? details = null) => new(ErrorCode.FirstPluginCode, msg, details);
}
