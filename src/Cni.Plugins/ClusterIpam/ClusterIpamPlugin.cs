using Cni.Etcd;
using Cni.Ipam;
using Cni.Ipam.Cluster;
using Cni.Spec;

namespace Cni.Plugins.ClusterIpam;

/// <summary>
/// The cluster-ipam IPAM plugin: addresses unique across a cluster, in blocks that nodes claim in etcd
/// (<see cref="ClusterAllocator"/> over <see cref="EtcdClusterStore"/>).
/// </summary>
public sealed class ClusterIpamPlugin : CniPlugin
{
    /// <summary>Plugin-specific error code: etcd refused the TLS set-up or the credentials, or they cannot be loaded.</summary>
    public const int EtcdSecurityError = ErrorCode.FirstPluginCode;

    public override string Name => "cluster-ipam";

    public override Result Add(CniRequest request) =>
        Run(request, a => HostLocal.HostLocalPlugin.ToResult(a.Add(request.ContainerId, request.IfName)));

    public override void Del(CniRequest request) =>
        Run(request, a => { a.Del(request.ContainerId, request.IfName); return 0; });

    public override void Check(CniRequest request) =>
        Run(request, a => a.Check(request.ContainerId, request.IfName) is null
            ? throw new CniException(ErrorCode.Internal, $"cluster-ipam: no address recorded for container {request.ContainerId} interface {request.IfName} on node {a.NodeName}")
            : 0);

    public override void Status(CniRequest request)
    {
        try
        {
            Run(request, a => { a.Status(); return 0; });
        }
        catch (CniException e) when (e.Code is ErrorCode.TryAgainLater)
        {
            throw new CniException(ErrorCode.PluginNotAvailable, e.Message, e.Details, e);
        }
    }

    public override void Gc(CniRequest request)
    {
        var valid = new List<Cni.Ipam.Attachment>();
        foreach (var a in request.ValidAttachments) valid.Add(new Cni.Ipam.Attachment(a.ContainerId, a.IfName));
        Run(request, a => a.Gc(valid));
    }

    /// <summary>Reads the config, connects, runs the action; maps every failure to its CNI error code.</summary>
    private static T Run<T>(CniRequest request, Func<ClusterAllocator, T> action)
    {
        request.Environment.TryGetValue("CNI_ARGS", out var cniArgs);
        var config = Map(() => ClusterIpamConfig.Parse(request.StdinData, Environment.MachineName, cniArgs));
        return Map(() =>
        {
            using var store = new EtcdClusterStore(new EtcdClient(EtcdClusterStore.Options(config.Etcd)));
            var cache = config.CacheDir is { } dir ? new NodeBlockFile(dir, config) : null;
            return action(new ClusterAllocator(config, store, cache: cache));
        });
    }

    internal static T Map<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (IpamConfigException e)
        {
            throw new CniException(ErrorCode.InvalidNetworkConfig, e.Message, null, e);
        }
        catch (ClusterStoreUnavailableException e)
        {
            throw new CniException(ErrorCode.TryAgainLater, e.Message, "etcd has no quorum or cannot be reached; nothing was allocated", e);
        }
        catch (ClusterStoreConflictException e)
        {
            throw new CniException(ErrorCode.TryAgainLater, e.Message, null, e);
        }
        catch (EtcdSecurityException e)
        {
            throw new CniException(EtcdSecurityError, $"cluster-ipam: {e.Message}", null, e);
        }
        catch (EtcdException e)
        {
            throw new CniException(ErrorCode.Internal, $"cluster-ipam: {e.Message}", null, e);
        }
        catch (IpamException e)
        {
            throw new CniException(ErrorCode.Internal, e.Message, null, e);
        }
    }
}
