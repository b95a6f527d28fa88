using System.Text;
using Cni.Ipam;
using static Cni.Ipam.Tests.TestConfigs;

namespace Cni.Ipam.Tests;

/// <summary>
/// The hand-written reader of the network configuration as host-local sees it: every field, the defaults,
/// Go's case-insensitive names, strict RFC 8259 JSON, and a clear config error for anything of the wrong kind.
/// </summary>
public class ConfigReadingTests
{
    private static IpamConfigException Refused(string json, string? cniArgs = null) =>
        Assert.Throws<IpamConfigException>(() => Parse(json, cniArgs));

    private static IpamConfigException Undecodable(string json)
    {
        var e = Refused(json);
        Assert.StartsWith("failed to parse network configuration: ", e.Message);
        return e;
    }

    private const string Full = """
        {"cniVersion":"0.4.0","name":"net7","type":"bridge",
         "ipam":{"type":"host-local","subnet":"10.5.0.0/24","rangeStart":"10.5.0.10","rangeEnd":"10.5.0.20","gateway":"10.5.0.254",
                 "exclude":["10.5.0.12","10.5.0.16/30"],
                 "ranges":[[{"subnet":"10.6.0.0/24","rangeStart":"10.6.0.5","rangeEnd":"10.6.0.9","gateway":"10.6.0.1","exclude":["10.6.0.7"]}],
                           [{"subnet":"fd00:6::/64"}]],
                 "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.5.0.254"}],
                 "dataDir":"/run/ipam","resolvConf":"/etc/resolv.conf","lockTimeoutSeconds":2.5},
         "args":{"cni":{"ips":["10.5.0.11"]}},
         "runtimeConfig":{"ips":["fd00:6::9/64"],"ipRanges":[[{"subnet":"10.7.0.0/24"}]]}}
        """;

    [Fact]
    public void IpRanges_as_go_cni_writes_them_read_as_the_canonical_keys()
    {
        // go-cni's IPRanges has no JSON tags: containerd sends {"Subnet","RangeStart","RangeEnd","Gateway"}.
        var goCni = Parse("""
            {"cniVersion":"1.0.0","name":"k8s","ipam":{"type":"host-local"},
             "runtimeConfig":{"ipRanges":[[{"Subnet":"10.8.0.0/24","RangeStart":"10.8.0.10","RangeEnd":"10.8.0.20","Gateway":"10.8.0.1"}]]}}
            """);
        var canonical = Parse("""
            {"cniVersion":"1.0.0","name":"k8s","ipam":{"type":"host-local"},
             "runtimeConfig":{"ipRanges":[[{"subnet":"10.8.0.0/24","rangeStart":"10.8.0.10","rangeEnd":"10.8.0.20","gateway":"10.8.0.1"}]]}}
            """);
        var r = Assert.Single(Assert.Single(goCni.RangeSets).Ranges);
        var c = Assert.Single(Assert.Single(canonical.RangeSets).Ranges);
        Assert.Equal((c.Subnet.ToString(), c.RangeStart.ToString(), c.RangeEnd.ToString(), c.Gateway.ToString()),
            (r.Subnet.ToString(), r.RangeStart.ToString(), r.RangeEnd.ToString(), r.Gateway.ToString()));
        Assert.Equal(("10.8.0.0/24", "10.8.0.10", "10.8.0.20", "10.8.0.1"), (r.Subnet.ToString(), r.RangeStart.ToString(), r.RangeEnd.ToString(), r.Gateway.ToString()));
    }

    [Fact]
    public void A_network_name_is_one_path_component_of_at_most_255_characters()
    {
        static string Named(string name) => $$$"""{"cniVersion":"1.0.0","name":"{{{name}}}","ipam":{"type":"host-local","ranges":[[{"subnet":"10.8.0.0/24"}]]}}""";
        Assert.Equal(new string('n', 255), Parse(Named(new string('n', 255))).Name);
        Assert.Contains("at most 255", Assert.Throws<IpamConfigException>(() => IpamConfig.Parse(System.Text.Encoding.UTF8.GetBytes(Named(new string('n', 256))))).Message);
    }

    [Fact]
    public void Every_field_is_read()
    {
        var c = Parse(Full);
        Assert.Equal("net7", c.Name);
        Assert.Equal("0.4.0", c.CniVersion);
        Assert.Equal(["10.7.0.0/24", "10.5.0.0/24", "10.6.0.0/24", "fd00:6::/64"], c.RangeSets.Select(s => s.Ranges[0].Subnet.ToString()));
        var legacy = c.RangeSets[1].Ranges[0];
        Assert.Equal(("10.5.0.10", "10.5.0.20", "10.5.0.254"), (legacy.RangeStart.ToString(), legacy.RangeEnd.ToString(), legacy.Gateway.ToString()));
        Assert.Equal(["10.5.0.12/32", "10.5.0.16/30"], legacy.Exclusions.Select(p => p.ToString()));
        var ranged = c.RangeSets[2].Ranges[0];
        Assert.Equal(("10.6.0.5", "10.6.0.9", "10.6.0.1"), (ranged.RangeStart.ToString(), ranged.RangeEnd.ToString(), ranged.Gateway.ToString()));
        Assert.Equal(["10.6.0.7/32"], ranged.Exclusions.Select(p => p.ToString()));
        Assert.Equal(["0.0.0.0/0", "192.168.0.0/16"], c.Routes.Select(r => r.Destination.ToString()));
        Assert.Equal("10.5.0.254", c.Routes[1].Gateway?.ToString());
        Assert.Equal("/run/ipam", c.DataDir);
        Assert.Equal("/etc/resolv.conf", c.ResolvConf);
        Assert.Equal(TimeSpan.FromSeconds(2.5), c.LockTimeout);
        Assert.Equal(["10.5.0.11", "fd00:6::9"], c.RequestedAddresses.Select(IPAddressMath.Format));
    }

    [Fact]
    public void Absent_and_null_fields_take_the_defaults()
    {
        foreach (var c in new[]
        {
            Parse("""{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}]]}}"""),
            Parse("""
                {"name":"n","cniVersion":null,"args":null,"runtimeConfig":null,
                 "ipam":{"type":null,"subnet":null,"routes":null,"dataDir":null,"resolvConf":null,"lockTimeoutSeconds":null,"exclude":null,
                         "ranges":[[{"subnet":"10.0.0.0/24","rangeStart":null,"exclude":null}]]}}
                """),
        })
        {
            Assert.Equal("", c.CniVersion);
            Assert.Equal(IpamConfig.DefaultDataDir, c.DataDir);
            Assert.Equal(IpamConfig.DefaultLockTimeout, c.LockTimeout);
            Assert.Null(c.ResolvConf);
            Assert.Empty(c.Routes);
            Assert.Empty(c.RequestedAddresses);
            Assert.Equal("10.0.0.1", Assert.Single(Assert.Single(c.RangeSets).Ranges).RangeStart.ToString());
        }
    }

    [Fact]
    public void Names_match_ignoring_case_at_every_level()
    {
        string shouted = System.Text.RegularExpressions.Regex.Replace(Full, "\"([A-Za-z]+)\":", m => "\"" + m.Groups[1].Value.ToUpperInvariant() + "\":");
        Assert.Contains("\"LOCKTIMEOUTSECONDS\":", shouted);
        var a = Parse(Full);
        var b = Parse(shouted);
        Assert.Equal(a.Name, b.Name);
        Assert.Equal(a.CniVersion, b.CniVersion);
        Assert.Equal(a.RangeSets.Select(s => s.ToString()), b.RangeSets.Select(s => s.ToString()));
        Assert.Equal(a.Routes, b.Routes);
        Assert.Equal(a.DataDir, b.DataDir);
        Assert.Equal(a.ResolvConf, b.ResolvConf);
        Assert.Equal(a.LockTimeout, b.LockTimeout);
        Assert.Equal(a.RequestedAddresses, b.RequestedAddresses);
    }

    [Fact]
    public void The_last_property_matching_a_field_wins_whatever_its_case()
    {
        Assert.Equal("b", Parse(Net("\"subnet\":\"10.0.0.0/24\"", "\"NAME\":\"b\"", name: "a")).Name);
        Assert.Equal("a", Parse("""{"NAME":"b","name":"a","ipam":{"subnet":"10.0.0.0/24"}}""").Name);
        // A repeated object replaces the earlier one; the two are not merged.
        Assert.Equal("no IP ranges specified",
            Refused("""{"name":"n","ipam":{"subnet":"10.0.0.0/24"},"IPAM":{"dataDir":"/tmp/x"}}""").Message);
    }

    [Fact]
    public void Unknown_fields_of_any_kind_are_ignored()
    {
        var c = Parse("""
            {"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"cni0","isGateway":true,"dns":{"nameservers":["1.1.1.1"]},"prevResult":null,
             "ipam":{"subnet":"10.0.0.0/24","somethingNew":[1,{"x":null}],"ranges":[[{"subnet":"10.1.0.0/24","vlan":5}]],"routes":[{"dst":"0.0.0.0/0","mtu":1400}]},
             "args":{"cni":{"ips":[],"mac":"x"},"k8s":{}},"runtimeConfig":{"portMappings":[],"mac":1}}
            """);
        Assert.Equal(2, c.RangeSets.Count);
        Assert.Single(c.Routes);
    }

    [Theory]
    [InlineData("""{"name":"n","ipam":{"subnet":"10.0.0.0/24"},}""")]
    [InlineData("""{"name":"n","ipam":{"subnet":"10.0.0.0/24",}}""")]
    [InlineData("""{"name":"n","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"},]]}}""")]
    [InlineData("""{"name":"n", /* c */ "ipam":{"subnet":"10.0.0.0/24"}}""")]
    [InlineData("{\"name\":\"n\", // c\n \"ipam\":{\"subnet\":\"10.0.0.0/24\"}}")]
    [InlineData("""{"name":"n","ipam":{"subnet":"10.0.0.0/24"}} x""")]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("\"n\"")]
    public void Json_beyond_rfc_8259_or_not_an_object_is_refused(string json) => Undecodable(json);

    [Fact]
    public void Null_document_is_reported_as_empty() =>
        Assert.Equal("network configuration is empty", Refused("null").Message);

    [Theory]
    [InlineData("""{"name":5,"ipam":{}}""", "$.name")]
    [InlineData("""{"cniVersion":1.0,"ipam":{}}""", "$.cniVersion")]
    [InlineData("""{"ipam":"host-local"}""", "$.ipam")]
    [InlineData("""{"ipam":{"type":{}}}""", "$.ipam.type")]
    [InlineData("""{"ipam":{"subnet":["10.0.0.0/24"]}}""", "$.ipam.subnet")]
    [InlineData("""{"ipam":{"rangeStart":1}}""", "$.ipam.rangeStart")]
    [InlineData("""{"ipam":{"rangeEnd":true}}""", "$.ipam.rangeEnd")]
    [InlineData("""{"ipam":{"gateway":{}}}""", "$.ipam.gateway")]
    [InlineData("""{"ipam":{"exclude":"10.0.0.1"}}""", "$.ipam.exclude")]
    [InlineData("""{"ipam":{"exclude":[1]}}""", "$.ipam.exclude[0]")]
    [InlineData("""{"ipam":{"ranges":{}}}""", "$.ipam.ranges")]
    [InlineData("""{"ipam":{"ranges":[{"subnet":"10.0.0.0/24"}]}}""", "$.ipam.ranges[0]")]
    [InlineData("""{"ipam":{"ranges":[["10.0.0.0/24"]]}}""", "$.ipam.ranges[0][0]")]
    [InlineData("""{"ipam":{"ranges":[[{"subnet":5}]]}}""", "$.ipam.ranges[0][0].subnet")]
    [InlineData("""{"ipam":{"ranges":[[],[{"Exclude":[null,2]}]]}}""", "$.ipam.ranges[1][0].Exclude[1]")]
    [InlineData("""{"ipam":{"routes":{}}}""", "$.ipam.routes")]
    [InlineData("""{"ipam":{"routes":["0.0.0.0/0"]}}""", "$.ipam.routes[0]")]
    [InlineData("""{"ipam":{"routes":[{"dst":0}]}}""", "$.ipam.routes[0].dst")]
    [InlineData("""{"ipam":{"routes":[{"dst":"0.0.0.0/0","GW":[]}]}}""", "$.ipam.routes[0].GW")]
    [InlineData("""{"ipam":{"dataDir":1}}""", "$.ipam.dataDir")]
    [InlineData("""{"ipam":{"resolvConf":false}}""", "$.ipam.resolvConf")]
    [InlineData("""{"ipam":{"lockTimeoutSeconds":"5"}}""", "$.ipam.lockTimeoutSeconds")]
    [InlineData("""{"ipam":{},"args":[]}""", "$.args")]
    [InlineData("""{"ipam":{},"args":{"cni":"x"}}""", "$.args.cni")]
    [InlineData("""{"ipam":{},"args":{"cni":{"ips":"10.0.0.1"}}}""", "$.args.cni.ips")]
    [InlineData("""{"ipam":{},"args":{"cni":{"ips":[10]}}}""", "$.args.cni.ips[0]")]
    [InlineData("""{"ipam":{},"runtimeConfig":5}""", "$.runtimeConfig")]
    [InlineData("""{"ipam":{},"runtimeConfig":{"ips":{}}}""", "$.runtimeConfig.ips")]
    [InlineData("""{"ipam":{},"runtimeConfig":{"ipRanges":[{}]}}""", "$.runtimeConfig.ipRanges[0]")]
    [InlineData("""{"ipam":{},"runtimeConfig":{"ipRanges":[[{"rangeEnd":[]}]]}}""", "$.runtimeConfig.ipRanges[0][0].rangeEnd")]
    public void Field_of_the_wrong_kind_is_refused_naming_its_path(string json, string path) =>
        Assert.Contains($"'{path}'", Undecodable(json).Message);

    [Fact]
    public void Null_items_are_refused_by_what_reads_them_not_by_a_crash()
    {
        Assert.Contains("invalid range set 0: range is missing 'subnet'",
            Refused(Net("\"ranges\":[[null]]")).Message);
        Assert.Contains("invalid range set 0: range is missing 'subnet'",
            Refused(Net("\"subnet\":\"10.0.0.0/24\"", "\"runtimeConfig\":{\"ipRanges\":[[null]]}")).Message);
        Assert.Contains("invalid exclude entry ''", Refused(Net("\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"exclude\":[null]}]]")).Message);
        Assert.Equal("args.cni.ips: invalid IP address ''", Refused(Net("\"subnet\":\"10.0.0.0/24\"", "\"args\":{\"cni\":{\"ips\":[null]}}")).Message);
        Assert.Equal("runtimeConfig.ips: invalid IP address ''", Refused(Net("\"subnet\":\"10.0.0.0/24\"", "\"runtimeConfig\":{\"ips\":[null]}")).Message);
        // A null route is skipped, as before.
        Assert.Single(Parse(Net("\"subnet\":\"10.0.0.0/24\",\"routes\":[null,{\"dst\":\"0.0.0.0/0\"}]")).Routes);
    }

    [Fact]
    public void Text_that_is_not_utf8_is_refused_where_read_and_ignored_elsewhere()
    {
        byte[] Doc(string key) => [.. Encoding.UTF8.GetBytes($"{{\"ipam\":{{\"subnet\":\"10.0.0.0/24\"}},\"{key}\":\""), 0xff, .. "\"}"u8];
        Assert.StartsWith("failed to parse network configuration: ",
            Assert.Throws<IpamConfigException>(() => IpamConfig.Parse(Doc("name"))).Message);
        Assert.Throws<IpamConfigException>(() => IpamConfig.Parse("""{"name":"\udc00","ipam":{}}"""u8));
        // Unread: only the network name is then missing.
        Assert.Contains("network name", Assert.Throws<IpamConfigException>(() => IpamConfig.Parse(Doc("other"))).Message);
        byte[] badName = [.. "{\""u8, 0xff, .. "\":1,\"name\":\"n\",\"ipam\":{\"subnet\":\"10.0.0.0/24\"}}"u8];
        Assert.Equal("n", IpamConfig.Parse(badName).Name);
    }
}
