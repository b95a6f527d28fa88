using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The vxlan device as the bridge plugin's <see cref="IBridgeUplink"/>: the bridge options of the overlay
/// (default name vx&lt;vni&gt;, the overlay MTU), the device ensured on the bridge before the container's veth
/// joins it, and checked in CHECK. <see cref="Underlay"/> is null for the commands that never touch the device
/// (DEL, GC, STATUS).
/// </summary>
internal sealed class VxlanUplink(VxlanOptions options, Underlay? underlay, int mtu) : IBridgeUplink
{
    public BridgeOptions Options(CniRequest request) => options.Bridge;

    public void Ensure(RouteSocket host, Link bridge, Rollback rollback)
    {
        VxlanNetwork.ClaimBridgeIfNew(host, options, bridge);
        VxlanDevice.Ensure(host, options, Resolved, mtu, bridge);
        // No undo step here: a failed ADD ends with VxlanNetwork.RemoveIfUnused under the same lock, which removes
        // the device and the bridge exactly when no other container uses them.
    }

    public void Check(RouteSocket host, Link bridge) => VxlanDevice.Check(host, options, Resolved, mtu, bridge);

    private Underlay Resolved => underlay ?? throw new InvalidOperationException("the underlay was not resolved for this command");
}
