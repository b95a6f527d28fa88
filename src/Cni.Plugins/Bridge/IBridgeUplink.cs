using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// The seam for plugins built on the bridge plugin: a link the bridge carries besides the containers' veths
/// (the vxlan plugin's VTEP), and the bridge options that go with it (the vxlan plugin's default bridge name
/// and MTU). <see cref="BridgePlugin"/> asks for the options first on every command, calls
/// <see cref="Ensure"/> in ADD once the bridge exists and before the container's veth is made, and
/// <see cref="Check"/> in CHECK after its own bridge checks.
/// </summary>
public interface IBridgeUplink
{
    /// <summary>The validated bridge options for this request; no side effects.</summary>
    BridgeOptions Options(CniRequest request);

    /// <summary>ADD: put the uplink on <paramref name="bridge"/>; register undo steps with <paramref name="rollback"/>.</summary>
    void Ensure(RouteSocket host, Link bridge, Rollback rollback);

    /// <summary>CHECK: throw a <see cref="CniException"/> when the uplink differs from the config.</summary>
    void Check(RouteSocket host, Link bridge);
}
