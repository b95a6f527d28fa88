using System.Net;
using Cni.Ipam;
using static Cni.Ipam.Tests.TestConfigs;

namespace Cni.Ipam.Tests;

public class ConfigTests
{
    [Fact]
    public void Legacy_single_range_gets_reference_defaults()
    {
        var c = Parse(Net("\"subnet\":\"10.1.2.0/24\""));
        var r = Assert.Single(Assert.Single(c.RangeSets).Ranges);
        Assert.Equal("10.1.2.1", r.Gateway.ToString());
        Assert.Equal("10.1.2.1", r.RangeStart.ToString());
        Assert.Equal("10.1.2.254", r.RangeEnd.ToString());
        Assert.Equal("/var/lib/cni/networks", c.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(5), c.LockTimeout);
        Assert.Equal("net1", c.Name);
    }

    [Fact]
    public void Ipv6_range_end_is_the_last_address()
    {
        var r = Ranges("""[{"subnet":"2001:db8::/64"}]""").RangeSets[0].Ranges[0];
        Assert.Equal("2001:db8::ffff:ffff:ffff:ffff", IPAddressMath.Format(r.RangeEnd));
        Assert.Equal("2001:db8::1", IPAddressMath.Format(r.Gateway));
    }

    [Fact]
    public void Legacy_range_comes_before_ranges_and_runtime_ranges_before_both()
    {
        var c = Parse(Net("\"subnet\":\"10.1.0.0/24\",\"ranges\":[[{\"subnet\":\"fd00::/64\"}]]",
            "\"runtimeConfig\":{\"ipRanges\":[[{\"subnet\":\"10.9.0.0/24\"}]]}"));
        Assert.Equal(["10.9.0.0/24", "10.1.0.0/24", "fd00::/64"], c.RangeSets.Select(s => s.Ranges[0].Subnet.ToString()));
    }

    [Fact]
    public void Unknown_fields_are_ignored_and_keys_match_case_insensitively()
    {
        var c = Parse(Net("\"whatever\":{\"x\":[1,2]},\"RANGES\":[[{\"Subnet\":\"10.1.0.0/24\",\"rangestart\":\"10.1.0.10\"}]]", "\"foo\":true"));
        Assert.Equal("10.1.0.10", c.RangeSets[0].Ranges[0].RangeStart.ToString());
    }

    [Theory]
    [InlineData("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.1.1"}]""", "RangeStart 10.0.1.1 not in network 10.0.0.0/24")]
    [InlineData("""[{"subnet":"10.0.0.0/24","rangeEnd":"10.0.1.1"}]""", "RangeEnd 10.0.1.1 not in network 10.0.0.0/24")]
    [InlineData("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.50","rangeEnd":"10.0.0.40"}]""", "RangeStart 10.0.0.50 is after RangeEnd 10.0.0.40")]
    [InlineData("""[{"subnet":"10.0.0.0/24","gateway":"10.0.1.1"}]""", "Gateway 10.0.1.1 not in network 10.0.0.0/24")]
    [InlineData("""[{"subnet":"10.0.0.5/24"}]""", "Network has host bits set. For a subnet mask of length 24 the network address is 10.0.0.0")]
    [InlineData("""[{"subnet":"10.0.0.0/31"}]""", "Network 10.0.0.0/31 too small to allocate from")]
    [InlineData("""[{"subnet":"10.0.0.0/24"},{"subnet":"fd00::/64"}]""", "mixed address families")]
    [InlineData("""[]""", "empty range set")]
    [InlineData("""[{"rangeStart":"10.0.0.1"}]""", "range is missing 'subnet'")]
    [InlineData("""[{"subnet":"10.0.0.0/24","exclude":["10.0.1.0/28"]}]""", "Exclude 10.0.1.0/28 not in network 10.0.0.0/24")]
    [InlineData("""[{"subnet":"10.0.0.0/24","exclude":["nonsense"]}]""", "invalid exclude entry 'nonsense'")]
    [InlineData("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.1","rangeEnd":"fd00::5"}]""", "RangeEnd fd00::5 not in network 10.0.0.0/24")]
    public void Invalid_range_is_refused_with_a_clear_message(string set, string message)
    {
        var e = Assert.Throws<IpamConfigException>(() => Ranges(set));
        Assert.Contains("invalid range set 0: " + message, e.Message);
    }

    [Fact]
    public void Overlapping_ranges_in_one_set_are_refused()
    {
        var e = Assert.Throws<IpamConfigException>(() => Ranges(
            """[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.0.0/16","rangeStart":"10.0.0.200","rangeEnd":"10.0.3.0"}]"""));
        Assert.Contains("pool overlaps with other one on this address space", e.Message);
        Assert.Contains("10.0.0.1-10.0.0.254", e.Message);
    }

    [Fact]
    public void Disjoint_ranges_of_one_subnet_do_not_overlap()
    {
        var c = Ranges("""[{"subnet":"10.0.0.0/24","rangeEnd":"10.0.0.100"},{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.101"}]""");
        Assert.Equal(2, c.RangeSets[0].Ranges.Count);
    }

    [Fact]
    public void Overlapping_range_sets_are_refused()
    {
        var e = Assert.Throws<IpamConfigException>(() => Ranges("""[{"subnet":"10.0.0.0/24"}]""", """[{"subnet":"10.0.0.0/16"}]"""));
        Assert.Contains("range set 0 overlaps with 1", e.Message);
        Assert.Contains("pool overlaps with other one on this address space", e.Message);
    }

    [Fact]
    public void Missing_ipam_or_ranges_is_refused()
    {
        Assert.Equal("IPAM config missing 'ipam' key",
            Assert.Throws<IpamConfigException>(() => Parse("""{"name":"n","cniVersion":"1.0.0"}""")).Message);
        Assert.Equal("no IP ranges specified",
            Assert.Throws<IpamConfigException>(() => Parse(Net("\"dataDir\":\"/tmp/x\""))).Message);
    }

    [Fact]
    public void Malformed_json_is_a_config_error() =>
        Assert.Throws<IpamConfigException>(() => Parse("{\"name\":\"n\", \"ipam\": {\"ranges\": 5}}"));

    [Theory]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    public void Network_names_that_could_escape_the_store_are_refused(string name) =>
        Assert.Throws<IpamConfigException>(() => Parse(Net("\"subnet\":\"10.0.0.0/24\"", name: name)));

    [Fact]
    public void Requested_addresses_come_from_cni_args_args_and_runtime_config_in_order()
    {
        var c = Parse(Net("\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}],[{\"subnet\":\"10.1.0.0/24\"}]]",
                "\"args\":{\"cni\":{\"ips\":[\"fd00::9\"]}},\"runtimeConfig\":{\"ips\":[\"10.1.0.9/24\"]}"),
            "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.0.0.9");
        Assert.Equal(["10.0.0.9", "fd00::9", "10.1.0.9"], c.RequestedAddresses.Select(IPAddressMath.Format));
    }

    [Fact]
    public void Cni_args_ip_accepts_a_comma_separated_list() =>
        Assert.Equal(["10.0.0.9", "fd00::9"],
            Parse(Net("\"subnet\":\"10.0.0.0/24\""), "IP=10.0.0.9,fd00::9").RequestedAddresses.Select(IPAddressMath.Format));

    [Theory]
    [InlineData("IP=10.0.0.300")]
    [InlineData("IP=abc")]
    [InlineData("IP")]
    public void Invalid_cni_args_ip_is_refused(string args) =>
        Assert.Throws<IpamConfigException>(() => Parse(Net("\"subnet\":\"10.0.0.0/24\""), args));

    [Fact]
    public void Old_cni_versions_refuse_two_addresses_of_one_family()
    {
        var body = "\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"10.1.0.0/24\"}]]";
        Assert.Contains("does not support more than 1 address per family",
            Assert.Throws<IpamConfigException>(() => Parse(Net(body, version: "0.2.0"))).Message);
        Assert.Equal(2, Parse(Net(body, version: "0.3.1")).RangeSets.Count);
    }

    [Fact]
    public void Routes_and_data_dir_are_read()
    {
        var c = Parse(Net("\"subnet\":\"10.0.0.0/24\",\"dataDir\":\"/run/x\",\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"192.168.0.0/16\",\"gw\":\"10.0.0.254\"}]"));
        Assert.Equal("/run/x", c.DataDir);
        Assert.Equal(2, c.Routes.Count);
        Assert.Null(c.Routes[0].Gateway);
        Assert.Equal(IPAddress.Parse("10.0.0.254"), c.Routes[1].Gateway);
        Assert.Throws<IpamConfigException>(() => Parse(Net("\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"nope\"}]")));
    }

    [Fact]
    public void Resolv_conf_is_parsed_like_the_reference()
    {
        var dns = DnsSettings.ParseResolvConf("""
            # comment
            ; other comment
            nameserver 1.1.1.1
            nameserver   fd00::53
            domain example.com
            search a.example b.example
            options ndots:5 timeout:1
            sortlist 10.0.0.0
            """);
        Assert.Equal(["1.1.1.1", "fd00::53"], dns.Nameservers);
        Assert.Equal("example.com", dns.Domain);
        Assert.Equal(["a.example", "b.example"], dns.Search);
        Assert.Equal(["ndots:5", "timeout:1"], dns.Options);
    }

    [Fact]
    public void Lock_timeout_is_configurable()
    {
        Assert.Equal(TimeSpan.FromSeconds(0.5), Parse(Net("\"subnet\":\"10.0.0.0/24\",\"lockTimeoutSeconds\":0.5")).LockTimeout);
        Assert.Throws<IpamConfigException>(() => Parse(Net("\"subnet\":\"10.0.0.0/24\",\"lockTimeoutSeconds\":0")));
    }
}
