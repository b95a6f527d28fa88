using System.Net;
using System.Text.Json;
using Cni.Spec;

namespace Cni.Spec.Tests;

public class ParsingTests
{
    [Fact]
    public void Every_spec_field_of_a_plugin_config_is_read_and_unknown_fields_are_kept()
    {
        var c = NetworkConfig.Parse("""
        {
          "cniVersion": "1.1.0", "name": "net1", "type": "bridge", "disableCheck": true, "disableGC": true,
          "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"},
          "dns": {"nameservers": ["10.1.0.1"], "search": ["a.b"]},
          "args": {"cni": {"ips": ["10.1.0.9"]}},
          "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
          "capabilities": {"portMappings": true},
          "prevResult": {"cniVersion": "1.1.0", "ips": [{"address": "10.1.0.9/16"}]},
          "bridge": "cni0", "somethingNew": {"x": 1}
        }
        """u8);
        Assert.Equal("1.1.0", c.Version);
        Assert.Equal("net1", c.Name);
        Assert.Equal("bridge", c.Type);
        Assert.True(c.DisableCheck);
        Assert.True(c.DisableGC);
        Assert.Equal("host-local", c.IpamType);
        Assert.True(c.Ipam!.Extra!.ContainsKey("subnet"));
        Assert.Equal("10.1.0.1", c.Dns!.Nameservers![0]);
        Assert.Equal(JsonValueKind.Object, c.Args!.Value.GetProperty("cni").ValueKind);
        Assert.Equal(JsonValueKind.Array, c.RuntimeConfig!.Value.GetProperty("portMappings").ValueKind);
        Assert.True(c.Capabilities!["portMappings"]);
        Assert.True(c.PrevResult.HasValue);
        Assert.True(c.Extra!.ContainsKey("bridge"));
        Assert.True(c.Extra!.ContainsKey("somethingNew"));
    }

    [Fact]
    public void A_missing_cniVersion_means_010()
    {
        var c = NetworkConfig.Parse("""{"name":"n","type":"loopback"}"""u8);
        Assert.Equal("0.1.0", c.Version);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"name\": 5}")]
    [InlineData("")]
    public void Garbage_config_is_a_decoding_failure(string text)
    {
        var e = Assert.Throws<CniException>(() => NetworkConfig.Parse(System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
    }

    [Fact]
    public void A_conflist_is_read_with_its_plugins()
    {
        var l = NetworkConfigList.Parse("""{"cniVersion":"1.1.0","cniVersions":["1.0.0","1.1.0"],"name":"n","plugins":[{"type":"bridge"},{"type":"portmap"}]}"""u8);
        Assert.Equal(2, l.Plugins!.Count);
        Assert.Equal(["1.0.0", "1.1.0"], l.CniVersions!);
    }

    [Fact]
    public void A_conflist_without_plugins_is_an_invalid_config()
    {
        var e = Assert.Throws<CniException>(() => NetworkConfigList.Parse("""{"cniVersion":"1.1.0","name":"n","plugins":[]}"""u8));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
    }

    [Fact]
    public void CniArgs_are_split_into_pairs()
    {
        var a = CniArgs.Parse("IgnoreUnknown=1;IP=10.0.0.5,10.0.0.6;K8S_POD_NAME=web");
        Assert.True(a.IgnoreUnknown);
        Assert.Equal("10.0.0.5,10.0.0.6", a.Get("IP"));
        Assert.Equal("web", a.Get("K8S_POD_NAME"));
        Assert.Null(a.Get("MAC"));
        a.EnsureKnown("IP");
    }

    [Fact]
    public void An_unknown_CniArgs_key_is_an_error_without_IgnoreUnknown()
    {
        var a = CniArgs.Parse("FOO=bar");
        var e = Assert.Throws<CniException>(() => a.EnsureKnown("IP"));
        Assert.Equal(ErrorCode.UnsupportedField, e.Code);
    }

    [Theory]
    [InlineData("novalue")]
    [InlineData("=x")]
    public void A_malformed_CniArgs_pair_is_an_environment_error(string text)
    {
        var e = Assert.Throws<CniException>(() => CniArgs.Parse(text));
        Assert.Equal(ErrorCode.InvalidEnvironmentVariables, e.Code);
    }

    [Theory]
    [InlineData("abc", true)]
    [InlineData("a-b_c.d", true)]
    [InlineData("0abc", true)]
    [InlineData("-abc", false)]
    [InlineData(".abc", false)]
    [InlineData("a/b", false)]
    [InlineData("../etc", false)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    public void Identifiers_allow_letters_digits_and_separators_only(string s, bool valid)
    {
        Assert.Equal(valid, Names.IsValidIdentifier(s));
    }

    [Theory]
    [InlineData("eth0", null)]
    [InlineData("a23456789012345", null)]
    [InlineData("a234567890123456", "interface name is too long")]
    [InlineData("", "interface name is empty")]
    [InlineData(".", "interface name is . or ..")]
    [InlineData("..", "interface name is . or ..")]
    [InlineData("eth/0", "interface name contains / or : or whitespace characters")]
    [InlineData("eth:0", "interface name contains / or : or whitespace characters")]
    [InlineData("eth 0", "interface name contains / or : or whitespace characters")]
    public void Interface_names_follow_the_kernel_rules(string name, string? problem)
    {
        Assert.Equal(problem, Names.InterfaceNameProblem(name));
    }

    [Theory]
    [InlineData("0.1.0", "0.2.0", -1)]
    [InlineData("0.4.0", "0.3.1", 1)]
    [InlineData("1.0.0", "1.0.0", 0)]
    [InlineData("1.10.0", "1.9.0", 1)]
    public void Versions_compare_numerically(string a, string b, int sign)
    {
        Assert.Equal(sign, Math.Sign(CniVersion.Compare(a, b)));
    }

    [Fact]
    public void IPPrefix_keeps_host_bits_and_computes_its_network()
    {
        var p = IPPrefix.Parse("10.1.2.3/16");
        Assert.Equal(IPAddress.Parse("10.1.2.3"), p.Address);
        Assert.Equal("10.1.0.0/16", p.Network.ToString());
        Assert.True(p.Contains(IPAddress.Parse("10.1.255.1")));
        Assert.False(p.Contains(IPAddress.Parse("10.2.0.1")));
        Assert.Equal("fd00::/64", IPPrefix.Parse("fd00::5/64").Network.ToString());
        Assert.True(IPPrefix.Parse("10.0.0.0/8").Overlaps(IPPrefix.Parse("10.5.0.0/16")));
        Assert.False(IPPrefix.Parse("10.0.0.0/16").Overlaps(IPPrefix.Parse("10.1.0.0/16")));
        Assert.False(IPPrefix.TryParse("10.0.0.1/33", out _));
        Assert.False(IPPrefix.TryParse("10.0.0.1", out _));
    }
}
