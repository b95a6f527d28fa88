using Cni.Etcd;
using Cni.Ipam;
using Cni.Ipam.Cluster;
using Cni.Spec;

namespace Cni.Plugins.ClusterIpam;

/// <summary>
/// The cluster-ipam IPAM plugin: addresses unique across a cluster, in blocks that nodes claim in etcd
/// (<see cref="ClusterAllocator"/> over <see cref="EtcdClusterStore"/>).
/// </summary>
public sealed class ClusterIpamPlugin : CniPlugin, IPreparingIpam
{
    /// <summary>Plugin-specific error code: etcd refused the TLS set-up or the credentials, or they cannot be loaded.</summary>
    public const int EtcdSecurityError = ErrorCode.FirstPluginCode;

    public override string Name => "cluster-ipam";

    /// <summary>A client whose connection to etcd is being opened ahead of an ADD (in-process: bridge announced it).</summary>
    private sealed class Prepared
    {
        public required byte[] StdinData { get; init; }
        public string? CniArgs { get; init; }
        public Thread? Connecting { get; set; }
        public EtcdClient? Client { get; set; }
    }

    private static Prepared? s_prepared;

    /// <summary>
    /// Run in-process, the interface plugin announces the ADD before its own set-up: the etcd client is made and
    /// its TLS connection opened on a second thread meanwhile (no request is sent). Anything that fails here is
    /// left to the ADD, which then does it again and reports it.
    /// </summary>
    public void PrepareAdd(IReadOnlyDictionary<string, string> environment, byte[] stdinData)
    {
        try
        {
            environment.TryGetValue("CNI_ARGS", out var cniArgs);
            var config = ClusterIpamConfig.Parse(stdinData, Environment.MachineName, cniArgs);
            var options = EtcdClusterStore.Options(config.Etcd);
            EtcdClient.PrepareProcess(options); // its setenv on this thread, before the second one runs
            var prepared = new Prepared { StdinData = stdinData, CniArgs = cniArgs };
            var connecting = new Thread(() =>
            {
                try
                {
                    var client = new EtcdClient(options);
                    prepared.Client = client;
                    client.Connect();
                }
                catch (Exception)
                {
                    // The ADD uses the client as it is (or makes its own) and reports what is wrong.
                }
            }) { IsBackground = true, Name = "etcd-connect" };
            prepared.Connecting = connecting;
            connecting.Start();
            s_prepared = prepared;
        }
        catch (Exception)
        {
            s_prepared = null; // the ADD parses the config again and reports the problem
        }
    }

    /// <summary>The prepared client when it was prepared for this very request (waits for its connection), else null.</summary>
    private static EtcdClient? TakePrepared(CniRequest request, string? cniArgs)
    {
        var prepared = s_prepared;
        s_prepared = null;
        if (prepared is null || prepared.CniArgs != cniArgs || !prepared.StdinData.AsSpan().SequenceEqual(request.StdinData)) return null;
        prepared.Connecting?.Join();
        return prepared.Client;
    }

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
        var prepared = request.Command == "ADD" ? TakePrepared(request, cniArgs) : null;
        return Map(() =>
        {
            using var store = new EtcdClusterStore(prepared ?? new EtcdClient(EtcdClusterStore.Options(config.Etcd)));
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
