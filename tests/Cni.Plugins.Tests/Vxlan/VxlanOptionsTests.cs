using System.Net;
using System.Text;
using Cni.Plugins.Bridge;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Vxlan;

public class VxlanOptionsTests
{
    private static VxlanOptions Options(string fields)
    {
        byte[] bytes = Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.0.0","name":"ovl","type":"vxlan"{{(fields.Length > 0 ? "," : "")}}{{fields}}}""");
        return VxlanOptions.From(VxlanConfig.Parse(bytes), BridgeConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Empty);
    }

    private static CniException Fails(string fields) => Assert.Throws<CniException>(() => Options(fields));

    [Fact]
    public void Defaults_follow_the_issue()
    {
        var o = Options("\"vni\":42");
        Assert.Equal(42u, o.Vni);
        Assert.Equal(4789, o.Port);
        Assert.Equal("vx42", o.Bridge.Bridge);
        Assert.Equal("vxlan42", o.DeviceName);
        Assert.False(o.Learning);
        Assert.Null(o.Mtu);
        Assert.Null(o.VtepMac);
        Assert.Null(o.UnderlayDevice);
        Assert.Null(o.LocalIP);
        Assert.Empty(o.Peers);
        Assert.Null(o.Group);
        Assert.False(o.DisableTxChecksumOffload);
        Assert.Equal(0, o.Ttl);
    }

    [Fact]
    public void Every_field_is_read()
    {
        var o = Options("""
            "vni":16777215,"port":8472,"underlayDevice":"eth1","localIP":"10.0.0.1","peers":["10.0.0.2","10.0.0.3","10.0.0.2"],
            "learning":true,"mtu":1400,"vtepMac":"02:00:00:00:00:01","disableTxChecksumOffload":true,"ttl":64,
            "bridge":"ovl0","isGateway":true,"hairpinMode":true
            """);
        Assert.Equal(16777215u, o.Vni);
        Assert.Equal(8472, o.Port);
        Assert.Equal("eth1", o.UnderlayDevice);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), o.LocalIP);
        Assert.Equal([IPAddress.Parse("10.0.0.2"), IPAddress.Parse("10.0.0.3")], o.Peers);
        Assert.True(o.Learning);
        Assert.Equal(1400, o.Mtu);
        Assert.Equal("02:00:00:00:00:01", o.VtepMac.ToString());
        Assert.True(o.DisableTxChecksumOffload);
        Assert.Equal(64, o.Ttl);
        Assert.Equal("ovl0", o.Bridge.Bridge);
        Assert.True(o.Bridge.Config.IsGateway && o.Bridge.Config.HairpinMode);
    }

    [Fact]
    public void Group_mode_reads_the_group()
    {
        var o = Options("\"vni\":7,\"group\":\"239.1.1.1\"");
        Assert.Equal(IPAddress.Parse("239.1.1.1"), o.Group);
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetwork, o.UnderlayFamily);
    }

    [Theory]
    [InlineData("", "vni is required")]
    [InlineData("\"vni\":0", "invalid vni 0")]
    [InlineData("\"vni\":16777216", "invalid vni 16777216")]
    [InlineData("\"vni\":-1", "invalid vni -1")]
    [InlineData("\"vni\":1,\"port\":0", "invalid port 0")]
    [InlineData("\"vni\":1,\"port\":65536", "invalid port 65536")]
    [InlineData("\"vni\":1,\"peers\":[\"10.0.0.2\"],\"group\":\"239.1.1.1\"", "peers and group cannot both be set")]
    [InlineData("\"vni\":1,\"group\":\"10.0.0.1\"", "not a multicast address")]
    [InlineData("\"vni\":1,\"peers\":[\"239.1.1.1\"]", "not a unicast host address")]
    [InlineData("\"vni\":1,\"peers\":[\"nope\"]", "invalid address \"nope\" in peers")]
    [InlineData("\"vni\":1,\"peers\":[\"10.1\"]", "invalid address \"10.1\" in peers")]
    [InlineData("\"vni\":1,\"peers\":[\"10.0.0.2\",\"fd00::2\"]", "mix IPv4 and IPv6")]
    [InlineData("\"vni\":1,\"localIP\":\"fd00::1\",\"peers\":[\"10.0.0.2\"]", "different address families")]
    [InlineData("\"vni\":1,\"localIP\":\"127.0.0.1\"", "not a unicast host address")]
    [InlineData("\"vni\":1,\"underlayDevice\":\"a/b\"", "invalid underlayDevice")]
    [InlineData("\"vni\":1,\"underlayDevice\":\"waytoolongname0123\"", "invalid underlayDevice")]
    [InlineData("\"vni\":1,\"vtepMac\":\"01:00:00:00:00:01\"", "not a unicast address")]
    [InlineData("\"vni\":1,\"vtepMac\":\"zz\"", "invalid vtepMac")]
    [InlineData("\"vni\":1,\"ttl\":256", "invalid ttl 256")]
    [InlineData("\"vni\":1,\"mtu\":20", "invalid mtu 20")]
    [InlineData("\"vni\":1,\"bridge\":\"a b\"", "invalid bridge name")]
    public void Bad_config_is_a_clear_invalid_config_error(string fields, string message)
    {
        var e = Fails(fields);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_wrong_json_type_is_a_decoding_failure()
    {
        Assert.Equal(ErrorCode.DecodingFailure, Fails("\"vni\":\"42\"").Code);
    }
}
