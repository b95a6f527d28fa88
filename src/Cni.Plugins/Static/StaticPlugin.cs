using Cni.Ipam;
using Cni.Ipam.Static;
using Cni.Spec;

namespace Cni.Plugins.Static;

/// <summary>
/// The static IPAM plugin: hands out exactly the addresses the configuration, CNI_ARGS or the <c>ips</c>
/// capability name (see <see cref="StaticIpam"/> for the order), with the configured routes and DNS. It holds no
/// state: DEL, STATUS and GC have nothing to do and succeed. Also run in-process by the interface plugins of
/// the same build (<see cref="InProcessIpam"/>).
/// </summary>
public sealed class StaticPlugin : CniPlugin
{
    public override string Name => "static";

    public override Result Add(CniRequest request) => Load(request).ToResult();

    /// <summary>Nothing was reserved; succeeds whatever the config says (as the reference).</summary>
    public override void Del(CniRequest request) { }

    public override void Check(CniRequest request)
    {
        var ipam = Load(request);
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        var problems = ipam.Check(prev, request.IfName);
        if (problems.Count > 0)
            throw new CniException(ErrorCode.FirstPluginCode, problems[0], string.Join("; ", problems));
    }

    private static StaticIpam Load(CniRequest request)
    {
        try
        {
            return StaticIpam.Parse(request.StdinData, request.Args);
        }
        catch (IpamConfigException e)
        {
            throw new CniException(ErrorCode.InvalidNetworkConfig, e.Message, null, e);
        }
    }
}
