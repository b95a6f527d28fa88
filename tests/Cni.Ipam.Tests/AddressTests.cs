using System.Net;
using Cni.Ipam;

namespace Cni.Ipam.Tests;

public class AddressTests
{
    [Theory]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("2001:0db8:0:1:0:0:0:1", "2001:db8:0:1::1")]
    [InlineData("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7")]
    [InlineData("1:0:0:2:0:0:0:3", "1:0:0:2::3")]
    [InlineData("1:0:0:2:3:0:0:4", "1::2:3:0:0:4")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("fe80::", "fe80::")]
    [InlineData("::1.2.3.4", "::102:304")]
    [InlineData("FD00::ABCD", "fd00::abcd")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    public void Format_writes_addresses_as_go_does(string input, string expected) =>
        Assert.Equal(expected, IPAddressMath.Format(IPAddressMath.Parse(input)));

    [Theory]
    [InlineData("10.1")]
    [InlineData("010.0.0.1")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.1.1.1")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    [InlineData("")]
    [InlineData(" 10.0.0.1")]
    public void Parse_refuses_what_go_refuses(string input) =>
        Assert.False(IPAddressMath.TryParse(input, out _));

    [Fact]
    public void Ipv4_mapped_ipv6_parses_as_ipv4() =>
        Assert.True(IPAddressMath.IsV4(IPAddressMath.Parse("::ffff:192.168.1.1")));

    [Fact]
    public void Number_round_trips_for_both_families()
    {
        var v4 = IPAddress.Parse("10.0.255.255");
        Assert.Equal(IPAddress.Parse("10.1.0.0"), IPAddressMath.FromNumber(IPAddressMath.ToNumber(v4) + 1, false));
        var v6 = IPAddress.Parse("2001:db8::ffff:ffff");
        Assert.Equal(IPAddress.Parse("2001:db8::1:0:0"), IPAddressMath.FromNumber(IPAddressMath.ToNumber(v6) + 1, true));
    }

    [Fact]
    public void Prefix_computes_network_and_containment()
    {
        var p = AddressPrefix.Parse("10.1.2.3/16");
        Assert.Equal("10.1.0.0/16", p.Network.ToString());
        Assert.True(p.Contains(IPAddress.Parse("10.1.255.255")));
        Assert.False(p.Contains(IPAddress.Parse("10.2.0.0")));
        Assert.False(p.Contains(IPAddress.Parse("::1")));
        Assert.Equal("2001:db8::/64", AddressPrefix.Parse("2001:db8::5/64").Network.ToString());
        Assert.True(AddressPrefix.Parse("0.0.0.0/0").Contains(IPAddress.Parse("255.255.255.255")));
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0")]
    [InlineData("/24")]
    [InlineData("10.0.0.0/024")]
    [InlineData("::/129")]
    public void Prefix_parse_refuses_malformed(string s) => Assert.False(AddressPrefix.TryParse(s, out _));
}
