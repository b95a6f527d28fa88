using Cni.Plugins.HostLocal;
using Cni.Plugins.Static;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// The IPAM plugins an interface plugin's executable carries, for <see cref="IpamDelegate.InProcessPlugins"/>.
/// They run in-process only when the executable CNI_PATH names is this same build (see IpamDelegate);
/// anything else (the reference host-local, another build) is executed as the spec says.
/// </summary>
public static class InProcessIpam
{
    public static CniPlugin? ForType(string type) => type switch
    {
        "host-local" => new HostLocalPlugin(),
        // Pure computation, no state: in-process it gives the same answer without a process start.
        "static" => new StaticPlugin(),
        _ => null,
    };

    /// <summary>Main for a plugin that delegates to IPAM.</summary>
    public static int Main(CniPlugin plugin)
    {
        IpamDelegate.InProcessPlugins = ForType;
        return Dispatcher.Main(plugin);
    }

    /// <summary>
    /// Main for a plugin that delegates to IPAM and links OpenSSL in (<c>StaticOpenSslLinking</c> in its cmd project:
    /// a static executable cannot load libssl at run time): it also runs cluster-ipam in-process, which saves the
    /// IPAM process's start on every call (the TLS connection to etcd is made either way).
    /// </summary>
    public static int MainWithTls(CniPlugin plugin)
    {
        IpamDelegate.InProcessPlugins = type => type == "cluster-ipam" ? new ClusterIpam.ClusterIpamPlugin() : ForType(type);
        return Dispatcher.Main(plugin);
    }
}
