using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Cni.Linux.Route;
using Cni.Plugins.Macvlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Macvlan;

/// <summary>Config decoding and validation without the kernel.</summary>
public sealed class MacvlanOptionsTests
{
    private static MacvlanOptions Options(string json, string args = "")
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        return MacvlanOptions.From(MacvlanConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Parse(args));
    }

    private static int CodeOf(Action action) => Assert.Throws<CniException>(action).Code;

    [Fact]
    public void Defaults_are_bridge_mode_master_from_default_route_master_mtu_and_no_ipam()
    {
        var o = Options("""{"cniVersion":"1.0.0","name":"n","type":"macvlan"}""");
        Assert.Equal(MacvlanMode.Bridge, o.Mode);
        Assert.Null(o.Master);
        Assert.Null(o.Mtu);
        Assert.Null(o.Mac);
        Assert.False(o.HasIpam);
        Assert.False(o.LinkInContainer);
    }

    [Theory]
    [InlineData("bridge", MacvlanMode.Bridge)]
    [InlineData("", MacvlanMode.Bridge)]
    [InlineData("private", MacvlanMode.Private)]
    [InlineData("vepa", MacvlanMode.Vepa)]
    [InlineData("passthru", MacvlanMode.Passthru)]
    [InlineData("source", MacvlanMode.Source)]
    public void Known_modes_parse_and_print_back(string name, MacvlanMode mode)
    {
        Assert.Equal(mode, MacvlanOptions.ParseMode(name));
        if (name.Length > 0) Assert.Equal(name, MacvlanOptions.ModeName(mode));
    }

    [Theory]
    [InlineData("Bridge")]
    [InlineData("shared")]
    [InlineData("l2")]
    public void Unknown_mode_is_an_invalid_config(string mode) =>
        Assert.Equal(ErrorCode.InvalidNetworkConfig, CodeOf(() => MacvlanOptions.ParseMode(mode)));

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    [InlineData(67)]
    [InlineData(70000)]
    public void Impossible_mtu_is_an_invalid_config(int mtu) =>
        Assert.Equal(ErrorCode.InvalidNetworkConfig, CodeOf(() => Options($$"""{"cniVersion":"1.0.0","name":"n","type":"macvlan","mtu":{{mtu}}}""")));

    [Fact]
    public void Mac_precedence_is_config_then_CNI_ARGS_then_runtimeConfig()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n","type":"macvlan","mac":"02:00:00:00:00:01"}""";
        Assert.Equal("02:00:00:00:00:01", Options(conf).Mac.ToString());
        Assert.Equal("02:00:00:00:00:02", Options(conf, "MAC=02:00:00:00:00:02").Mac.ToString());
        const string withRuntime = """{"cniVersion":"1.0.0","name":"n","type":"macvlan","mac":"02:00:00:00:00:01","runtimeConfig":{"mac":"02-00-00-00-00-03"}}""";
        Assert.Equal("02:00:00:00:00:03", Options(withRuntime, "MAC=02:00:00:00:00:02").Mac.ToString());
    }

    [Theory]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","mac":"nonsense"}""", "")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","mac":"01:00:5e:00:00:01"}""", "")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan"}""", "MAC=00:00:00:00:00:00")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","runtimeConfig":{"mac":"zz:00:00:00:00:01"}}""", "")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"a/b"}""", "")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"much-too-long-name0"}""", "")]
    public void Bad_mac_or_master_name_is_an_invalid_config(string json, string args) =>
        Assert.Equal(ErrorCode.InvalidNetworkConfig, CodeOf(() => Options(json, args)));

    [Fact]
    public void Unknown_CNI_ARGS_key_is_unsupported_unless_ignored()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n","type":"macvlan"}""";
        Assert.Equal(ErrorCode.UnsupportedField, CodeOf(() => Options(conf, "FOO=bar")));
        Assert.Null(Options(conf, "IgnoreUnknown=1;FOO=bar").Mac);
    }

    [Fact]
    public void Wrong_json_type_is_a_decoding_failure() =>
        Assert.Equal(ErrorCode.DecodingFailure, CodeOf(() => MacvlanConfig.Parse("""{"mtu":"big"}"""u8)));

    [Fact]
    public void Ipam_and_linkInContainer_are_read()
    {
        var o = Options("""{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"ens3","linkInContainer":true,"mtu":1400,"ipam":{"type":"host-local"}}""");
        Assert.True(o.HasIpam);
        Assert.True(o.LinkInContainer);
        Assert.Equal("ens3", o.Master);
        Assert.Equal(1400, o.Mtu);
    }

    [Fact]
    public void Default_route_link_prefers_IPv4_and_skips_routes_without_an_output_link()
    {
        var routes = new[]
        {
            new RouteEntry { Destination = IPAddress.Parse("10.0.0.0"), PrefixLength = 8, OutputIndex = 2 },
            new RouteEntry { Destination = IPAddress.IPv6Any, PrefixLength = 0, OutputIndex = 5 },
            new RouteEntry { Destination = IPAddress.Any, PrefixLength = 0, OutputIndex = null },
            new RouteEntry { Destination = IPAddress.Any, PrefixLength = 0, OutputIndex = 3, Table = 100 },
            new RouteEntry { Destination = IPAddress.Any, PrefixLength = 0, OutputIndex = 7 },
        };
        Assert.Equal(7, MacvlanOptions.DefaultRouteLink(routes));
        Assert.Equal(5, MacvlanOptions.DefaultRouteLink(routes.Take(3)));
        Assert.Null(MacvlanOptions.DefaultRouteLink(routes.Take(1)));
        Assert.Null(MacvlanOptions.DefaultRouteLink([]));
    }

    [Fact]
    public void Ethernet_like_means_a_nonzero_6_byte_address_and_not_loopback()
    {
        Link Make(string name, byte[]? address, uint flags = 0) =>
            new() { Index = 1, Name = name, Address = address is null ? null : new PhysicalAddress(address), Flags = flags };
        Assert.True(MacvlanMaster.IsEthernetLike(Make("eth0", [2, 0, 0, 0, 0, 1])));
        Assert.False(MacvlanMaster.IsEthernetLike(Make("lo", [0, 0, 0, 0, 0, 0], MacvlanMaster.IFF_LOOPBACK)));
        Assert.False(MacvlanMaster.IsEthernetLike(Make("tun0", null)));
        Assert.False(MacvlanMaster.IsEthernetLike(Make("ipip0", [10, 0, 0, 1])));
        Assert.False(MacvlanMaster.IsEthernetLike(Make("lo2", [2, 0, 0, 0, 0, 1], MacvlanMaster.IFF_LOOPBACK)));
    }

    [Fact]
    public void Temporary_name_is_deterministic_15_bytes_and_per_attachment()
    {
        string a = MacvlanLink.TemporaryName(new Attachment("ctr1", "eth0"));
        Assert.Equal(a, MacvlanLink.TemporaryName(new Attachment("ctr1", "eth0")));
        Assert.NotEqual(a, MacvlanLink.TemporaryName(new Attachment("ctr1", "eth1")));
        Assert.StartsWith("mvt", a);
        Assert.Equal(15, a.Length);
    }
}
