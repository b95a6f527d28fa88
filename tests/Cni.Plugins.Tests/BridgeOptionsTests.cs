using System.Text;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Tests;

public class BridgeOptionsTests
{
    private static BridgeOptions Options(string json, string cniArgs = "")
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        return BridgeOptions.From(BridgeConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Parse(cniArgs));
    }

    private static CniException Fails(string json, string cniArgs = "") =>
        Assert.Throws<CniException>(() => Options(json, cniArgs));

    [Fact]
    public void Defaults_match_the_reference()
    {
        var o = Options("""{"cniVersion":"1.0.0","name":"n","type":"bridge"}""");
        Assert.Equal("cni0", o.Bridge);
        Assert.False(o.Config.IsGateway);
        Assert.False(o.Config.IPMasq);
        Assert.True(o.Config.PreserveDefaultVlan);
        Assert.False(o.Config.EnableDad);
        Assert.Equal(0, o.Mtu);
        Assert.Null(o.Mac);
        Assert.False(o.HasIpam);
    }

    [Fact]
    public void Every_reference_field_is_read()
    {
        var o = Options("""
            {"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"br9","isGateway":true,"isDefaultGateway":true,
             "forceAddress":true,"ipMasq":true,"ipMasqBackend":"nftables","mtu":1400,"hairpinMode":true,"promiscMode":false,
             "preserveDefaultVlan":false,"enabledad":true,"macspoofchk":true,"portIsolation":true,
             "isolation":true,"ipam":{"type":"host-local"}}
            """);
        var c = o.Config;
        Assert.Equal("br9", o.Bridge);
        Assert.True(c.IsGateway && c.IsDefaultGateway && c.ForceAddress && c.IPMasq && c.HairpinMode);
        Assert.True(c.EnableDad && c.MacSpoofCheck && c.PortIsolation && c.Isolation && o.HasIpam);
        Assert.False(c.PreserveDefaultVlan);
        Assert.Equal(1400, o.Mtu);
    }

    [Fact]
    public void isDefaultGateway_implies_isGateway()
    {
        var o = Options("""{"cniVersion":"1.0.0","name":"n","type":"bridge","isDefaultGateway":true}""");
        Assert.True(o.Config.ActsAsGateway);
    }

    [Fact]
    public void Isolation_isolates_bridge_ports()
    {
        Assert.True(Options("""{"cniVersion":"1.0.0","name":"n","type":"bridge","isolation":true}""").Config.IsolatePorts);
        Assert.True(Options("""{"cniVersion":"1.0.0","name":"n","type":"bridge","portIsolation":true}""").Config.IsolatePorts);
    }

    [Theory]
    [InlineData("""{"bridge":"this-name-is-far-too-long"}""", "invalid bridge name")]
    [InlineData("""{"bridge":"br/0"}""", "invalid bridge name")]
    [InlineData("""{"vlan":5000}""", "invalid VLAN ID 5000")]
    [InlineData("""{"vlan":-1}""", "invalid VLAN ID -1")]
    [InlineData("""{"vlan":10,"vlanTrunk":[{"id":20}]}""", "cannot set vlan and vlanTrunk at the same time")]
    [InlineData("""{"vlanTrunk":[{"minID":10}]}""", "maxID is missing")]
    [InlineData("""{"vlanTrunk":[{"maxID":10}]}""", "minID is missing")]
    [InlineData("""{"vlanTrunk":[{"minID":20,"maxID":10}]}""", "minID is greater than maxID")]
    [InlineData("""{"vlanTrunk":[{"id":4095}]}""", "incorrect trunk id parameter")]
    [InlineData("""{"mtu":20}""", "invalid mtu 20")]
    [InlineData("""{"hairpinMode":true,"promiscMode":true}""", "cannot set hairpin mode and promiscuous mode")]
    [InlineData("""{"disableContainerInterface":true,"ipam":{"type":"host-local"}}""", "cannot use IPAM when DisableContainerInterface")]
    [InlineData("""{"internal":true,"ipMasq":true}""", "internal and ipMasq")]
    [InlineData("""{"internal":true,"isDefaultGateway":true}""", "internal and isDefaultGateway")]
    [InlineData("""{"ipMasqBackend":"pf"}""", "invalid ipMasqBackend")]
    [InlineData("""{"runtimeConfig":{"mac":"not-a-mac"}}""", "invalid MAC address")]
    [InlineData("""{"args":{"cni":{"mac":"01:00:5e:00:00:01"}}}""", "not a unicast address")]
    public void Invalid_configs_fail_with_code_7_before_any_side_effect(string fields, string message)
    {
        string json = """{"cniVersion":"1.0.0","name":"n","type":"bridge",""" + fields[1..];
        var e = Fails(json);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("""{"vlan":10}""")]
    [InlineData("""{"vlanTrunk":[{"minID":10,"maxID":12}]}""")]
    public void Vlan_options_fail_clearly_because_the_kernel_has_no_vlan_filtering(string fields)
    {
        string json = """{"cniVersion":"1.0.0","name":"n","type":"bridge",""" + fields[1..];
        var e = Fails(json);
        Assert.Equal(ErrorCode.UnsupportedField, e.Code);
        Assert.Contains("VLAN filtering", e.Message);
    }

    [Fact]
    public void Trunk_ids_are_collected_sorted_without_duplicates()
    {
        var ids = BridgeOptions.CollectTrunk([new VlanTrunk { MinId = 5, MaxId = 7 }, new VlanTrunk { Id = 6 }, new VlanTrunk { Id = 2 }]);
        Assert.Equal([2, 5, 6, 7], ids);
    }

    [Fact]
    public void Mac_comes_from_runtimeConfig_over_args_over_CNI_ARGS()
    {
        const string a = "0a:00:00:00:00:0a", b = "0a:00:00:00:00:0b", c = "0a:00:00:00:00:0c";
        Assert.Equal(a, Options("""{"cniVersion":"1.0.0","name":"n"}""", $"MAC={a}").Mac.ToString());
        Assert.Equal(b, Options("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"args\":{\"cni\":{\"mac\":\"" + b + "\"}}}", $"MAC={a}").Mac.ToString());
        Assert.Equal(c, Options("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"args\":{\"cni\":{\"mac\":\"" + b + "\"}},\"runtimeConfig\":{\"mac\":\"" + c + "\"}}", $"MAC={a}").Mac.ToString());
    }

    [Fact]
    public void Unknown_CNI_ARGS_fail_unless_IgnoreUnknown()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n"}""";
        Assert.Equal(ErrorCode.UnsupportedField, Fails(conf, "FOO=1").Code);
        Assert.Null(Options(conf, "IgnoreUnknown=1;FOO=1").Mac);
    }

    [Fact]
    public void Containerds_kubernetes_CNI_ARGS_are_accepted()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n"}""";
        const string k8s = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;" +
            "K8S_POD_INFRA_CONTAINER_ID=671125675488ae340080e5c09a20d4645723e68dd7a7a5c38bb474225f3ecbfd;K8S_POD_UID=uid-1";
        Assert.Null(Options(conf, k8s).Mac);
        Assert.Equal("02:00:00:00:00:07", Options(conf, k8s + ";MAC=02:00:00:00:00:07").Mac.ToString());
        Assert.Equal(ErrorCode.UnsupportedField, Fails(conf, k8s.Replace("IgnoreUnknown=1;", "")).Code);
    }

    [Fact]
    public void Malformed_json_is_a_decoding_failure()
    {
        var e = Assert.Throws<CniException>(() => BridgeConfig.Parse("""{"mtu":"big"}"""u8));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
    }
}
