using System.Text;
using Cni.Ipam;

namespace Cni.Ipam.Tests;

internal static class TestConfigs
{
    public static IpamConfig Parse(string json, string? cniArgs = null) => IpamConfig.Parse(Encoding.UTF8.GetBytes(json), cniArgs);

    /// <summary>A network config with the given ipam body (without braces) and extra top-level members.</summary>
    public static string Net(string ipamBody, string extraTop = "", string name = "net1", string version = "1.0.0") =>
        "{\"cniVersion\":\"" + version + "\",\"name\":\"" + name + "\",\"type\":\"bridge\"" + (extraTop.Length > 0 ? "," + extraTop : "") +
        ",\"ipam\":{\"type\":\"host-local\"," + ipamBody + "}}";

    public static IpamConfig Ranges(params string[] rangeSets) =>
        Parse(Net($"\"ranges\":[{string.Join(",", rangeSets)}]"));
}
