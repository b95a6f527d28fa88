using Cni.Linux.Route;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The per-host pieces of one overlay that outlive a single attachment: the vxlan device and the bridge it is a
/// port of. Created on the first ADD; removed when no container port is left (last DEL, a failed first ADD, GC).
/// Both happen under <see cref="NetworkLock"/>, so removal never races an ADD.
/// </summary>
public static class VxlanNetwork
{
    /// <summary>
    /// Marks a bridge the overlay brought up (no alias, no port yet) so that removing it later never takes a
    /// bridge somebody else made.
    /// </summary>
    public static void ClaimBridgeIfNew(RouteSocket host, VxlanOptions o, Link bridge)
    {
        if (!string.IsNullOrEmpty(bridge.Alias)) return;
        if (host.ListLinks().Any(l => l.MasterIndex == bridge.Index)) return;
        host.SetLinkAlias(bridge.Index, VxlanDevice.Tag(o.Vni));
    }

    /// <summary>
    /// Removes the device and the bridge when the bridge has no port besides the device. Only what carries our
    /// tag is removed. Returns true when the network is gone from this host.
    /// </summary>
    public static bool RemoveIfUnused(RouteSocket host, VxlanOptions o)
    {
        string tag = VxlanDevice.Tag(o.Vni);
        var links = host.ListLinks();
        var bridge = links.FirstOrDefault(l => l.Name == o.Bridge.Bridge);
        var device = links.FirstOrDefault(l => l.Name == o.DeviceName);
        if (bridge is not null && links.Any(l => l.MasterIndex == bridge.Index && l.Index != device?.Index))
            return false;
        if (device is not null && device.Alias == tag && device.Kind == "vxlan")
            host.DeleteLink(device.Index);
        if (bridge is not null && bridge.Alias == tag && bridge.Kind == "bridge")
            host.DeleteLink(bridge.Index);
        return true;
    }
}
