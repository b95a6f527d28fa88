using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The vxlan plugin: an overlay segment across hosts. It is the bridge plugin (every bridge option, IPAM, the
/// same result) with a vxlan device on the bridge, ensured before each container is attached (see
/// <see cref="VxlanUplink"/>). Calls that change the device, the bridge or the flood list hold the VNI's
/// <see cref="NetworkLock"/>; the device and the bridge go away with the last container on this host.
/// </summary>
public sealed class VxlanPlugin : CniPlugin
{
    private readonly Func<IMasquerade>? _masquerade;
    private readonly Func<IInternalNetwork>? _internalNetwork;
    private readonly string _lockDirectory;

    public VxlanPlugin() : this(null, null) { }

    public VxlanPlugin(Func<IMasquerade>? masquerade, Func<IInternalNetwork>? internalNetwork, string lockDirectory = NetworkLock.DefaultDirectory)
    {
        _masquerade = masquerade;
        _internalNetwork = internalNetwork;
        _lockDirectory = lockDirectory;
    }

    public override string Name => "vxlan";

    public override Result Add(CniRequest request)
    {
        var o = VxlanOptions.From(request);
        using var host = RouteSocket.Open();
        var (underlay, mtu) = Resolve(host, o);

        using var held = NetworkLock.Acquire(o.Vni, _lockDirectory);
        try
        {
            var result = Bridge(new VxlanUplink(o, underlay, mtu)).Add(request);
            if (o.Cluster is not null)
                ClusterJoin.OnAdd(host, o, underlay, _lockDirectory, Console.Error);
            return result;
        }
        catch
        {
            // The first ADD on this host made the device and the bridge: take them away again.
            try { VxlanNetwork.RemoveIfUnused(host, o); }
            catch (Exception e) { Console.Error.WriteLine($"rollback: remove unused vxlan network failed: {e.Message}"); }
            throw;
        }
    }

    public override void Del(CniRequest request)
    {
        var o = VxlanOptions.From(request);
        using var held = NetworkLock.Acquire(o.Vni, _lockDirectory);
        var failures = new DelFailures();
        failures.Try("remove the container's attachment", () => Bridge(new VxlanUplink(o, null, 0)).Del(request));
        failures.Try("remove the unused vxlan device and bridge", () =>
        {
            using var host = RouteSocket.Open();
            VxlanNetwork.RemoveIfUnused(host, o);
        });
        failures.ThrowIfAny();
    }

    public override void Check(CniRequest request)
    {
        var o = VxlanOptions.From(request);
        (Underlay underlay, int mtu) resolved;
        using (var host = RouteSocket.Open())
            resolved = Resolve(host, o);
        Bridge(new VxlanUplink(o, resolved.underlay, resolved.mtu)).Check(request);
    }

    /// <summary>GC: the bridge plugin's sweep of stale veths and IPAM reservations, then the device and bridge if nothing uses them.</summary>
    public override void Gc(CniRequest request)
    {
        var o = VxlanOptions.From(request);
        using var held = NetworkLock.Acquire(o.Vni, _lockDirectory);
        var failures = new DelFailures();
        failures.Try("collect stale attachments", () => Bridge(new VxlanUplink(o, null, 0)).Gc(request));
        failures.Try("remove the unused vxlan device and bridge", () =>
        {
            using var host = RouteSocket.Open();
            VxlanNetwork.RemoveIfUnused(host, o);
        });
        failures.ThrowIfAny();
    }

    /// <summary>STATUS: not ready (50) while the underlay cannot be resolved; then the bridge plugin's (IPAM) status.</summary>
    public override void Status(CniRequest request)
    {
        var o = VxlanOptions.From(request);
        try
        {
            using var host = RouteSocket.Open();
            Resolve(host, o);
        }
        catch (CniException e)
        {
            throw new CniException(ErrorCode.PluginNotAvailable, $"vxlan underlay not available: {e.Message}", e.Details);
        }
        Bridge(new VxlanUplink(o, null, 0)).Status(request);
    }

    private static (Underlay Underlay, int Mtu) Resolve(RouteSocket host, VxlanOptions o)
    {
        var underlay = Underlay.Resolve(host, o);
        int mtu = OverlayMtu.Resolve(o.Mtu, underlay.Device.Mtu, underlay.Family, underlay.Device.Name);
        // The bridge and the containers' veths take the overlay MTU (the bridge options read it from their config).
        o.Bridge.Config.Mtu = mtu;
        return (underlay, mtu);
    }

    private BridgePlugin Bridge(VxlanUplink uplink) => new(_masquerade, _internalNetwork, uplink);
}
