using System.Text;
using Cni.Firewall;
using Cni.Plugins.Bridge;
using Cni.Plugins.Macvlan;
using Cni.Plugins.Portmap;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests;

/// <summary>
/// The hand-written readers of the plugins' own config fields: every field, the defaults, the reference's
/// leniency (comments, trailing commas) and strictness (case-sensitive names, JSON numbers only), and code 6
/// for anything of the wrong kind.
/// </summary>
public class NetconfReadingTests
{
    private static byte[] U(string json) => Encoding.UTF8.GetBytes(json);

    private static CniException Refused(Action parse)
    {
        var e = Assert.Throws<CniException>(parse);
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("failed to load netconf: ", e.Message);
        return e;
    }

    // ---- bridge ----

    [Fact]
    public void Bridge_reads_every_field()
    {
        var c = BridgeConfig.Parse(U("""
            {"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"br9","isGateway":true,"isDefaultGateway":true,
             "forceAddress":true,"ipMasq":true,"ipMasqBackend":"iptables","mtu":1400,"hairpinMode":true,"promiscMode":true,
             "vlan":7,"vlanTrunk":[{"minID":10,"maxID":20},{"id":30}],"preserveDefaultVlan":false,"macspoofchk":true,
             "enabledad":true,"disableContainerInterface":true,"portIsolation":true,"isolation":true,"internal":true,
             "args":{"cni":{"mac":"02:00:00:00:00:01"}},"runtimeConfig":{"mac":"02:00:00:00:00:02"}}
            """));
        Assert.Equal("br9", c.BridgeName);
        Assert.Equal("br9", c.Bridge);
        Assert.True(c.IsGateway);
        Assert.True(c.IsDefaultGateway);
        Assert.True(c.ForceAddress);
        Assert.True(c.IPMasq);
        Assert.Equal("iptables", c.IPMasqBackend);
        Assert.Equal(1400, c.Mtu);
        Assert.True(c.HairpinMode);
        Assert.True(c.PromiscMode);
        Assert.Equal(7, c.Vlan);
        Assert.NotNull(c.VlanTrunk);
        Assert.Equal(2, c.VlanTrunk.Count);
        Assert.Equal((10, 20, (int?)null), (c.VlanTrunk[0].MinId, c.VlanTrunk[0].MaxId, c.VlanTrunk[0].Id));
        Assert.Equal(((int?)null, (int?)null, 30), (c.VlanTrunk[1].MinId, c.VlanTrunk[1].MaxId, c.VlanTrunk[1].Id));
        Assert.False(c.PreserveDefaultVlan);
        Assert.True(c.MacSpoofCheck);
        Assert.True(c.EnableDad);
        Assert.True(c.DisableContainerInterface);
        Assert.True(c.PortIsolation);
        Assert.True(c.Isolation);
        Assert.True(c.Internal);
        Assert.Equal("02:00:00:00:00:01", c.Args?.Cni?.Mac);
        Assert.Equal("02:00:00:00:00:02", c.RuntimeConfig?.Mac);
    }

    [Fact]
    public void Bridge_defaults_when_fields_are_absent()
    {
        var c = BridgeConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"bridge"}"""u8);
        Assert.Null(c.BridgeName);
        Assert.Equal("cni0", c.Bridge);
        Assert.False(c.IsGateway || c.IsDefaultGateway || c.ForceAddress || c.IPMasq || c.HairpinMode || c.PromiscMode);
        Assert.False(c.MacSpoofCheck || c.EnableDad || c.DisableContainerInterface || c.PortIsolation || c.Isolation || c.Internal);
        Assert.True(c.PreserveDefaultVlan);
        Assert.Equal(0, c.Mtu);
        Assert.Equal(0, c.Vlan);
        Assert.Null(c.IPMasqBackend);
        Assert.Null(c.VlanTrunk);
        Assert.Null(c.Args);
        Assert.Null(c.RuntimeConfig);
    }

    [Fact]
    public void Bridge_null_reads_as_absent_for_optional_fields()
    {
        var c = BridgeConfig.Parse("""{"bridge":null,"vlanTrunk":null,"args":null,"runtimeConfig":null,"ipMasqBackend":null}"""u8);
        Assert.Equal("cni0", c.Bridge);
        Assert.Null(c.VlanTrunk);
        Assert.Null(c.Args);
        Assert.Null(c.RuntimeConfig);
        var nested = BridgeConfig.Parse("""{"args":{"cni":null},"runtimeConfig":{"mac":null},"vlanTrunk":[{"minID":null,"id":null}]}"""u8);
        Assert.NotNull(nested.Args);
        Assert.Null(nested.Args.Cni);
        Assert.Null(nested.RuntimeConfig?.Mac);
        Assert.Null(nested.VlanTrunk![0].MinId);
    }

    [Fact]
    public void Bridge_ignores_unknown_fields_and_keeps_comments_and_trailing_commas()
    {
        var c = BridgeConfig.Parse(U("""
            {
              // the bridge
              "bridge": "br1", /* its MTU */ "mtu": 1450,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}]]},
              "dns": {"nameservers": ["10.0.0.1"]}, "prevResult": {"ips": []}, "somethingNew": [1, {"x": null}],
              "args": {"cni": {"mac": "02:00:00:00:00:01", "ips": ["10.0.0.5"]}, "other": 5},
              "runtimeConfig": {"portMappings": [], "mac": "02:00:00:00:00:02",},
              "vlanTrunk": [{"id": 5, "comment": "x"},],
            }
            """));
        Assert.Equal("br1", c.BridgeName);
        Assert.Equal(1450, c.Mtu);
        Assert.Equal("02:00:00:00:00:01", c.Args?.Cni?.Mac);
        Assert.Equal("02:00:00:00:00:02", c.RuntimeConfig?.Mac);
        Assert.Equal(5, Assert.Single(c.VlanTrunk!).Id);
    }

    [Fact]
    public void Bridge_keys_select_fields_ignoring_case_as_Go_does()
    {
        var c = BridgeConfig.Parse("""{"Bridge":"br1","MTU":1400,"IsGateway":true,"ipmasq":true,"PreserveDefaultVlan":false,"RuntimeConfig":{"MAC":"x"},"args":{"CNI":{"Mac":"y"}}}"""u8);
        Assert.Equal("br1", c.BridgeName);
        Assert.Equal(1400, c.Mtu);
        Assert.True(c.IsGateway);
        Assert.True(c.IPMasq);
        Assert.False(c.PreserveDefaultVlan);
        Assert.Equal("x", c.RuntimeConfig!.Mac);
        Assert.Equal("y", c.Args!.Cni!.Mac);
        var canonical = BridgeConfig.Parse("""{"bridge":"br1","mtu":1400,"isGateway":true,"ipMasq":true,"preserveDefaultVlan":false}"""u8);
        Assert.Equal((canonical.BridgeName, canonical.Mtu, canonical.IsGateway, canonical.IPMasq), (c.BridgeName, c.Mtu, c.IsGateway, c.IPMasq));
    }

    [Fact]
    public void Bridge_repeated_field_takes_the_last_value_and_escaped_names_match()
    {
        var c = BridgeConfig.Parse("""{"mtu":1400,"mtu":1500,"\u0062ridge":"br7"}"""u8);
        Assert.Equal(1500, c.Mtu);
        Assert.Equal("br7", c.BridgeName);
        // Every occurrence is still checked, as the serializer checked it.
        Refused(() => BridgeConfig.Parse("""{"mtu":"x","mtu":1500}"""u8));
    }

    [Theory]
    [InlineData("""{"bridge":5}""", "$.bridge")]
    [InlineData("""{"isGateway":"true"}""", "$.isGateway")]
    [InlineData("""{"isGateway":null}""", "$.isGateway")]
    [InlineData("""{"preserveDefaultVlan":1}""", "$.preserveDefaultVlan")]
    [InlineData("""{"mtu":"1500"}""", "$.mtu")]
    [InlineData("""{"mtu":1500.5}""", "$.mtu")]
    [InlineData("""{"mtu":1.5e3}""", "$.mtu")]
    [InlineData("""{"mtu":2147483648}""", "$.mtu")]
    [InlineData("""{"mtu":null}""", "$.mtu")]
    [InlineData("""{"vlan":true}""", "$.vlan")]
    [InlineData("""{"vlanTrunk":{}}""", "$.vlanTrunk")]
    [InlineData("""{"vlanTrunk":[5]}""", "$.vlanTrunk[0]")]
    [InlineData("""{"vlanTrunk":[null]}""", "$.vlanTrunk[0]")]
    [InlineData("""{"vlanTrunk":[{"id":5},{"minID":"1"}]}""", "$.vlanTrunk[1].minID")]
    [InlineData("""{"vlanTrunk":[{"maxID":1.5}]}""", "$.vlanTrunk[0].maxID")]
    [InlineData("""{"args":"x"}""", "$.args")]
    [InlineData("""{"args":{"cni":[]}}""", "$.args.cni")]
    [InlineData("""{"args":{"cni":{"mac":1}}}""", "$.args.cni.mac")]
    [InlineData("""{"runtimeConfig":[]}""", "$.runtimeConfig")]
    [InlineData("""{"runtimeConfig":{"mac":false}}""", "$.runtimeConfig.mac")]
    [InlineData("""{"ipMasqBackend":{}}""", "$.ipMasqBackend")]
    [InlineData("""{"macspoofchk":"yes"}""", "$.macspoofchk")]
    public void Bridge_field_of_the_wrong_kind_is_a_decoding_failure_naming_its_path(string json, string path) =>
        Assert.Contains($"'{path}'", Refused(() => BridgeConfig.Parse(U(json))).Message);

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("\"bridge\"")]
    [InlineData("{")]
    [InlineData("{\"mtu\":1}{}")]
    [InlineData("{\"mtu\":01}")]
    [InlineData("{\"mtu\":NaN}")]
    [InlineData("{\"mtu\":1,,}")]
    [InlineData("{\"\\udcff\":1}")]
    public void Malformed_or_non_object_document_is_a_decoding_failure(string json)
    {
        Refused(() => BridgeConfig.Parse(U(json)));
        Refused(() => MacvlanConfig.Parse(U(json)));
        Refused(() => VxlanConfig.Parse(U(json)));
        Refused(() => PortmapConfig.Parse(U(json)));
    }

    [Fact]
    public void Null_document_is_reported_as_empty() =>
        Assert.Equal("failed to load netconf: empty document", Refused(() => BridgeConfig.Parse("null"u8)).Message);

    [Fact]
    public void String_that_is_not_utf8_is_a_decoding_failure_where_read_and_ignored_elsewhere()
    {
        Refused(() => BridgeConfig.Parse(U("{\"bridge\":\"\\ud800\"}")));
        Assert.Equal("br0", BridgeConfig.Parse(U("{\"zzz\":\"\\ud800\",\"bridge\":\"br0\"}")).BridgeName);
        byte[] Doc(string name) => [.. U($"{{\"{name}\":\""), 0xff, 0xfe, .. U("\",\"mtu\":1400}")];
        Refused(() => BridgeConfig.Parse(Doc("bridge")));
        Assert.Equal(1400, BridgeConfig.Parse(Doc("unknown")).Mtu);
        // A name whose bytes are not UTF-8 matches no field.
        byte[] badName = [.. U("{\""), 0xff, .. U("\":1,\"mtu\":1400}")];
        Assert.Equal(1400, BridgeConfig.Parse(badName).Mtu);
    }

    // ---- macvlan ----

    [Fact]
    public void Macvlan_reads_every_field()
    {
        var c = MacvlanConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"ens3","mode":"vepa","mtu":1400,
             "mac":"02:00:00:00:00:01","linkInContainer":true,"runtimeConfig":{"mac":"02:00:00:00:00:02","portMappings":[]},
             "ipam":{"type":"host-local"},}
            """u8);
        Assert.Equal("ens3", c.Master);
        Assert.Equal("vepa", c.Mode);
        Assert.Equal(1400, c.Mtu);
        Assert.Equal("02:00:00:00:00:01", c.Mac);
        Assert.True(c.LinkInContainer);
        Assert.Equal("02:00:00:00:00:02", c.RuntimeConfig?.Mac);
    }

    [Fact]
    public void Macvlan_and_vxlan_keys_select_fields_ignoring_case_as_Go_does()
    {
        Assert.Equal("eth0", MacvlanConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","Master":"eth0"}"""u8).Master);
        Assert.Equal(5, VxlanConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"vxlan","VNI":5}"""u8).Vni);
    }

    [Fact]
    public void Macvlan_defaults_when_fields_are_absent()
    {
        var c = MacvlanConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","Primary":"eth0"}"""u8);
        Assert.Null(c.Master);
        Assert.Null(c.Mode);
        Assert.Equal(0, c.Mtu);
        Assert.Null(c.Mac);
        Assert.False(c.LinkInContainer);
        Assert.Null(c.RuntimeConfig);
    }

    [Theory]
    [InlineData("""{"master":["eth0"]}""", "$.master")]
    [InlineData("""{"mode":0}""", "$.mode")]
    [InlineData("""{"mtu":"1400"}""", "$.mtu")]
    [InlineData("""{"mac":true}""", "$.mac")]
    [InlineData("""{"linkInContainer":null}""", "$.linkInContainer")]
    [InlineData("""{"runtimeConfig":"x"}""", "$.runtimeConfig")]
    [InlineData("""{"runtimeConfig":{"mac":[]}}""", "$.runtimeConfig.mac")]
    public void Macvlan_field_of_the_wrong_kind_is_a_decoding_failure(string json, string path) =>
        Assert.Contains($"'{path}'", Refused(() => MacvlanConfig.Parse(U(json))).Message);

    // ---- vxlan ----

    [Fact]
    public void Vxlan_reads_every_field()
    {
        var c = VxlanConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","type":"vxlan","vni":16777215,"port":8472,"underlayDevice":"eth1",
             "localIP":"192.0.2.1","peers":["192.0.2.2","192.0.2.3"],"group":"239.1.1.1","learning":true,
             "vtepMac":"02:00:00:00:00:01","disableTxChecksumOffload":true,"ttl":64,"bridge":"vx0"}
            """u8);
        Assert.Equal(16777215, c.Vni);
        Assert.Equal(8472, c.Port);
        Assert.Equal("eth1", c.UnderlayDevice);
        Assert.Equal("192.0.2.1", c.LocalIP);
        Assert.Equal(["192.0.2.2", "192.0.2.3"], c.Peers!);
        Assert.Equal("239.1.1.1", c.Group);
        Assert.True(c.Learning);
        Assert.Equal("02:00:00:00:00:01", c.VtepMac);
        Assert.True(c.DisableTxChecksumOffload);
        Assert.Equal(64, c.Ttl);
    }

    [Fact]
    public void Vxlan_defaults_when_fields_are_absent_and_reads_wide_numbers()
    {
        var c = VxlanConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"vxlan","VNIs":5}"""u8);
        Assert.Null(c.Vni);
        Assert.Null(c.Port);
        Assert.Null(c.Ttl);
        Assert.Null(c.Peers);
        Assert.Null(c.UnderlayDevice ?? c.LocalIP ?? c.Group ?? c.VtepMac);
        Assert.False(c.Learning || c.DisableTxChecksumOffload);

        // Out of the 32-bit range still reads, so the options can say what is wrong with it.
        var wide = VxlanConfig.Parse("""{"vni":4294967296,"port":-1,"ttl":null,"peers":[null]}"""u8);
        Assert.Equal(4294967296L, wide.Vni);
        Assert.Equal(-1, wide.Port);
        Assert.Null(wide.Ttl);
        Assert.Equal([null], wide.Peers!);
    }

    [Theory]
    [InlineData("""{"vni":"5"}""", "$.vni")]
    [InlineData("""{"vni":5.5}""", "$.vni")]
    [InlineData("""{"vni":9223372036854775808}""", "$.vni")]
    [InlineData("""{"port":true}""", "$.port")]
    [InlineData("""{"underlayDevice":1}""", "$.underlayDevice")]
    [InlineData("""{"localIP":{}}""", "$.localIP")]
    [InlineData("""{"peers":"192.0.2.2"}""", "$.peers")]
    [InlineData("""{"peers":["192.0.2.2",5]}""", "$.peers[1]")]
    [InlineData("""{"group":[]}""", "$.group")]
    [InlineData("""{"learning":"no"}""", "$.learning")]
    [InlineData("""{"vtepMac":1}""", "$.vtepMac")]
    [InlineData("""{"disableTxChecksumOffload":null}""", "$.disableTxChecksumOffload")]
    [InlineData("""{"ttl":"64"}""", "$.ttl")]
    public void Vxlan_field_of_the_wrong_kind_is_a_decoding_failure(string json, string path) =>
        Assert.Contains($"'{path}'", Refused(() => VxlanConfig.Parse(U(json))).Message);

    [Fact]
    public void Vxlan_null_peer_is_an_invalid_address_not_a_crash()
    {
        var bytes = U("""{"cniVersion":"1.0.0","name":"n","type":"vxlan","vni":5,"peers":[null]}""");
        var e = Assert.Throws<CniException>(() =>
            VxlanOptions.From(VxlanConfig.Parse(bytes), BridgeConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Empty));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("in peers", e.Message);
    }

    // ---- portmap ----

    [Fact]
    public void Portmap_reads_every_field()
    {
        var c = PortmapConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","type":"portmap","snat":false,"markMasqBit":5,"externalSetMarkChain":"MARK",
             "masqAll":true,"conditionsV4":["-s","1.2.3.4"],"conditionsV6":[],"localhostPorts":false,
             "capabilities":{"portMappings":true},
             "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"udp","hostIP":"127.0.0.1"},null,{}]}}
            """u8);
        Assert.False(c.Snat);
        Assert.Equal(5, c.MarkMasqBit);
        Assert.Equal("MARK", c.ExternalSetMarkChain);
        Assert.True(c.MasqAll);
        Assert.Equal(["-s", "1.2.3.4"], c.ConditionsV4!);
        Assert.Empty(c.ConditionsV6!);
        Assert.False(c.LocalhostPorts);
        var m = c.RuntimeConfig!.PortMappings!;
        Assert.Equal(3, m.Count);
        Assert.Equal((8080L, 80L, "udp", "127.0.0.1"), (m[0]!.HostPort, m[0]!.ContainerPort, m[0]!.Protocol, m[0]!.HostIP));
        Assert.Null(m[1]);
        Assert.Equal((0L, 0L, (string?)null, (string?)null), (m[2]!.HostPort, m[2]!.ContainerPort, m[2]!.Protocol, m[2]!.HostIP));
    }

    [Fact]
    public void Portmap_defaults_when_fields_are_absent()
    {
        var c = PortmapConfig.Parse("""{"cniVersion":"1.0.0","name":"n","type":"portmap","noSNAT":false}"""u8);
        Assert.Null(c.Snat);
        Assert.Null(c.MarkMasqBit);
        Assert.Null(c.ExternalSetMarkChain);
        Assert.False(c.MasqAll);
        Assert.Null(c.ConditionsV4);
        Assert.Null(c.ConditionsV6);
        Assert.Null(c.LocalhostPorts);
        Assert.Null(c.RuntimeConfig);
        var o = c.Options();
        Assert.True(o.Snat);
        Assert.True(o.Localhost);
        Assert.Equal(PortMappingOptions.DefaultMarkMasqBit, o.MarkMasqBit);
        Assert.Empty(c.Mappings());
    }

    [Theory]
    [InlineData("""{"snat":"false"}""", "$.snat")]
    [InlineData("""{"markMasqBit":"13"}""", "$.markMasqBit")]
    [InlineData("""{"markMasqBit":13.0}""", "$.markMasqBit")]
    [InlineData("""{"externalSetMarkChain":1}""", "$.externalSetMarkChain")]
    [InlineData("""{"masqAll":null}""", "$.masqAll")]
    [InlineData("""{"conditionsV4":"-s 1.2.3.4"}""", "$.conditionsV4")]
    [InlineData("""{"conditionsV6":[1]}""", "$.conditionsV6[0]")]
    [InlineData("""{"localhostPorts":0}""", "$.localhostPorts")]
    [InlineData("""{"runtimeConfig":1}""", "$.runtimeConfig")]
    [InlineData("""{"runtimeConfig":{"portMappings":{}}}""", "$.runtimeConfig.portMappings")]
    [InlineData("""{"runtimeConfig":{"portMappings":[5]}}""", "$.runtimeConfig.portMappings[0]")]
    [InlineData("""{"runtimeConfig":{"portMappings":[{"hostPort":"80"}]}}""", "$.runtimeConfig.portMappings[0].hostPort")]
    [InlineData("""{"runtimeConfig":{"portMappings":[{},{"containerPort":null}]}}""", "$.runtimeConfig.portMappings[1].containerPort")]
    [InlineData("""{"runtimeConfig":{"portMappings":[{"protocol":6}]}}""", "$.runtimeConfig.portMappings[0].protocol")]
    [InlineData("""{"runtimeConfig":{"portMappings":[{"hostIP":[]}]}}""", "$.runtimeConfig.portMappings[0].hostIP")]
    public void Portmap_field_of_the_wrong_kind_is_a_decoding_failure(string json, string path) =>
        Assert.Contains($"'{path}'", Refused(() => PortmapConfig.Parse(U(json))).Message);
}
