using System.Runtime.InteropServices;
using Cni.Plugins.Vxlan;

namespace Cni.Agent;

/// <summary>
/// sharpcni-agent: the node agent of the vxlan cluster mode (what flanneld is to flannel). In the foreground, logging to
/// stderr, until SIGTERM or SIGINT.
/// <code>sharpcni-agent [--conf-dir DIR] [--run-dir DIR] [--names-dir DIR] [--resolv-conf FILE] [--etcd-socket PATH]</code>
/// --conf-dir: the CNI configuration directory (default /etc/cni/net.d); every vxlan network with a <c>cluster</c> object
/// gets one <see cref="NetworkAgent"/>. --run-dir: where the plugin keeps its locks and ledgers (default /run/sharpcni; the
/// plugin's own, change it only in tests). --etcd-socket: serve the plugins' etcd requests on this Unix socket (the
/// <see cref="Cni.Etcd.EtcdRelay"/>; the plugins look at /run/sharpcni/etcd.sock unless their etcd.agentSocket says otherwise).
/// </summary>
public static class AgentMain
{
    public const string DefaultConfDir = "/etc/cni/net.d";

    public static int Main(string[] args, TextWriter log)
    {
        string confDir = DefaultConfDir, runDir = NetworkLock.DefaultDirectory;
        string namesDir = Cni.Resolver.NameStore.DefaultDirectory, resolvConf = "/etc/resolv.conf";
        string? etcdSocket = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--conf-dir" when i + 1 < args.Length: confDir = args[++i]; break;
                case "--run-dir" when i + 1 < args.Length: runDir = args[++i]; break;
                case "--names-dir" when i + 1 < args.Length: namesDir = args[++i]; break;
                case "--resolv-conf" when i + 1 < args.Length: resolvConf = args[++i]; break;
                case "--etcd-socket" when i + 1 < args.Length: etcdSocket = args[++i]; break;
                case "-h" or "--help":
                    log.WriteLine("usage: sharpcni-agent [--conf-dir DIR (default /etc/cni/net.d)] [--run-dir DIR (default /run/sharpcni)]");
                    log.WriteLine("                      [--names-dir DIR (default /run/sharpcni/dnsname)] [--resolv-conf FILE (default /etc/resolv.conf)]");
                    log.WriteLine("                      [--etcd-socket PATH (serve the plugins' etcd requests there; the plugins' default is /run/sharpcni/etcd.sock)]");
                    return 0;
                default:
                    log.WriteLine($"sharpcni-agent: unknown argument '{args[i]}' (see --help)");
                    return 2;
            }
        }

        var networks = OverlayNetworks.Discover(confDir, log);
        if (networks.Count == 0)
            log.WriteLine($"sharpcni-agent: no vxlan network with a cluster object in {confDir}: serving names only");

        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext c) { c.Cancel = true; stop.Cancel(); }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        using var names = new NamesHost(namesDir, resolvConf, log);
        names.Start();

        Cni.Etcd.EtcdRelay? relay = null;
        if (etcdSocket is not null)
        {
            try
            {
                relay = new Cni.Etcd.EtcdRelay(etcdSocket, identity => EtcdIdentities.Find(confDir, identity), log);
                relay.Start();
                log.WriteLine($"sharpcni-agent: relaying the plugins' etcd requests on {etcdSocket} ({EtcdIdentities.Discover(confDir).Count} etcd configurations in {confDir})");
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                log.WriteLine($"sharpcni-agent: cannot serve {etcdSocket}: {e.Message}; the plugins reach etcd directly");
            }
        }
        using var relayOwner = relay;

        var threads = new List<Thread>();
        foreach (var network in networks)
        {
            var agent = new NetworkAgent(network, runDir, log);
            var t = new Thread(() => agent.Run(stop.Token)) { Name = network.Name };
            t.Start();
            threads.Add(t);
        }
        foreach (var t in threads) t.Join();
        stop.Token.WaitHandle.WaitOne();
        return 0;
    }
}
