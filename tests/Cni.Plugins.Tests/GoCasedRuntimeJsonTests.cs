using Cni.Plugins.Bridge;
using Cni.Plugins.Portmap;

namespace Cni.Plugins.Tests;

/// <summary>
/// The JSON containerd (go-cni) and other Go runtimes write, with Go's field names as keys, reads the same as the
/// canonical keys (the reference plugins decode with encoding/json, which matches keys ignoring case).
/// </summary>
public class GoCasedRuntimeJsonTests
{
    private static string Portmap(string mappings) => $$$"""
        {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "portmap", "capabilities": {"portMappings": true},
         "runtimeConfig": {"portMappings": {{{mappings}}}}}
        """;

    [Fact]
    public void PortMappings_as_go_cni_writes_them_give_the_same_mappings_as_canonical_keys()
    {
        // go-cni's PortMapping has no JSON tags: containerd 1.6 sends exactly this for hostPort 8080 TCP and 5353 UDP.
        var goCni = PortmapConfig.Parse(System.Text.Encoding.UTF8.GetBytes(Portmap("""
            [{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":""},
             {"HostPort":5353,"ContainerPort":53,"Protocol":"udp","HostIP":"127.0.0.1"}]
            """))).Mappings();
        var canonical = PortmapConfig.Parse(System.Text.Encoding.UTF8.GetBytes(Portmap("""
            [{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},
             {"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]
            """))).Mappings();
        Assert.Equal(canonical, goCni);
        Assert.Equal(2, goCni.Count);
        Assert.Equal(8080, goCni[0].HostPort);
        Assert.Equal("127.0.0.1", goCni[1].HostIP!.ToString());
    }

    [Fact]
    public void The_capability_key_itself_and_the_plugin_fields_match_ignoring_case()
    {
        var c = PortmapConfig.Parse("""
            {"cniVersion": "1.0.0", "name": "n", "type": "portmap", "SNAT": false, "MarkMasqBit": 12,
             "RuntimeConfig": {"PortMappings": [{"HostPort": 81, "ContainerPort": 80}]}}
            """u8);
        Assert.False(c.Options().Snat);
        Assert.Equal(12, c.Options().MarkMasqBit);
        Assert.Equal(81, Assert.Single(c.Mappings()).HostPort);
    }

    [Fact]
    public void Mixed_case_bridge_keys_give_the_same_options_as_canonical_keys()
    {
        var mixed = BridgeConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"bridge","Bridge":"cni9","IsGateway":true,"ipmasq":true,"HairpinMode":true,"MTU":1400}"""u8);
        var canonical = BridgeConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"cni9","isGateway":true,"ipMasq":true,"hairpinMode":true,"mtu":1400}"""u8);
        Assert.Equal((canonical.BridgeName, canonical.IsGateway, canonical.IPMasq, canonical.HairpinMode, canonical.Mtu),
            (mixed.BridgeName, mixed.IsGateway, mixed.IPMasq, mixed.HairpinMode, mixed.Mtu));
        Assert.Equal(("cni9", true, true, true, 1400), (mixed.BridgeName, mixed.IsGateway, mixed.IPMasq, mixed.HairpinMode, mixed.Mtu));
    }
}
