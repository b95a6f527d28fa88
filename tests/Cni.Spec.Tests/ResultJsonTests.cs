using System.Text;
using Cni.Spec;

namespace Cni.Spec.Tests;

/// <summary>How ResultCodec reads and writes the JSON of each result family (the shapes themselves are golden files).</summary>
public class ResultJsonTests
{
    private static Result Parse(string json, string? version = null) => ResultCodec.Parse(Encoding.UTF8.GetBytes(json), version);

    private static string Write(Result r, string version) => Encoding.UTF8.GetString(ResultCodec.Serialize(r, version));

    [Theory]
    [InlineData("1.1.0", """{"ips": 5}""", "$.ips")]
    [InlineData("1.1.0", """{"ips": [{"address": 5}]}""", "$.ips[0].address")]
    [InlineData("1.1.0", """{"ips": [{"address": "10.0.0.2/24", "interface": "0"}]}""", "$.ips[0].interface")]
    [InlineData("1.1.0", """{"interfaces": [{"name": "eth0", "mtu": "1500"}]}""", "$.interfaces[0].mtu")]
    [InlineData("1.0.0", """{"interfaces": ["eth0"]}""", "$.interfaces[0]")]
    [InlineData("1.0.0", """{"routes": [{"dst": "0.0.0.0/0", "priority": 1.5}]}""", "$.routes[0].priority")]
    [InlineData("1.0.0", """{"routes": [{"dst": "0.0.0.0/0", "table": 4294967296}]}""", "$.routes[0].table")]
    [InlineData("1.0.0", """{"dns": {"search": [1]}}""", "$.dns.search[0]")]
    [InlineData("1.0.0", """{"dns": "10.0.0.1"}""", "$.dns")]
    [InlineData("1.0.0", """{"cniVersion": 1.0}""", "$.cniVersion")]
    [InlineData("0.4.0", """{"ips": [{"version": 4, "address": "10.0.0.2/24"}]}""", "$.ips[0].version")]
    [InlineData("0.3.1", """{"interfaces": [{"name": "eth0", "sandbox": true}]}""", "$.interfaces[0].sandbox")]
    [InlineData("0.3.0", """{"routes": {"dst": "0.0.0.0/0"}}""", "$.routes")]
    [InlineData("0.2.0", """{"ip4": "10.0.0.2/24"}""", "$.ip4")]
    [InlineData("0.2.0", """{"ip4": {"ip": "10.0.0.2/24", "routes": [{"dst": "0.0.0.0/0", "gw": 1}]}}""", "$.ip4.routes[0].gw")]
    [InlineData("0.1.0", """{"ip6": {"ip": ["fd00::2/64"]}}""", "$.ip6.ip")]
    [InlineData("0.1.0", """{"dns": {"nameservers": "10.0.0.1"}}""", "$.dns.nameservers")]
    public void A_field_of_the_wrong_kind_is_a_decoding_failure_naming_it(string version, string json, string path)
    {
        var e = Assert.Throws<CniException>(() => Parse(json, version));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("failed to decode result: ", e.Message);
        Assert.Contains($"'{path}'", e.Message);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("\"10.0.0.2/24\"")]
    [InlineData("")]
    [InlineData("{\"ips\": [")]
    public void A_document_that_is_not_one_json_object_is_a_decoding_failure(string json)
    {
        Assert.Equal(ErrorCode.DecodingFailure, Assert.Throws<CniException>(() => Parse(json)).Code);
        Assert.Equal(ErrorCode.DecodingFailure, Assert.Throws<CniException>(() => Parse(json, "1.0.0")).Code);
    }

    [Fact]
    public void An_unsupported_version_is_code_1_whether_given_or_named()
    {
        Assert.Equal(ErrorCode.IncompatibleVersion, Assert.Throws<CniException>(() => Parse("not json", "9.9.9")).Code);
        Assert.Equal(ErrorCode.IncompatibleVersion, Assert.Throws<CniException>(() => Parse("""{"cniVersion": "2.0.0", "ips": []}""")).Code);
        Assert.Equal(ErrorCode.IncompatibleVersion, Assert.Throws<CniException>(() => ResultCodec.Serialize(new Result(), "0.5.0")).Code);
    }

    [Fact]
    public void The_version_named_in_the_result_picks_its_shape()
    {
        var v04 = Parse("""{"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24"}]}""");
        Assert.Equal("10.0.0.2/24", v04.IPs![0].Address);
        var v02 = Parse("""{"ip4": {"ip": "10.0.0.3/24"}, "cniVersion": "0.2.0"}""");
        Assert.Equal("10.0.0.3/24", v02.IPs![0].Address);
        // No cniVersion: 0.1.0, whose shape has no "ips".
        Assert.Equal(["10.0.0.4/24"], Parse("""{"ips": [{"address": "10.0.0.2/24"}], "ip4": {"ip": "10.0.0.4/24"}}""").IPs!.Select(i => i.Address));
    }

    [Fact]
    public void Keys_select_fields_as_Go_does_at_every_level()
    {
        // A delegated IPAM plugin or a prevResult written by a Go program with its struct field names.
        var r = Parse("""
            {"CNIVersion": "1.1.0",
             "Interfaces": [{"Name": "eth0", "Mac": "aa:bb:cc:dd:ee:ff", "Sandbox": "/var/run/netns/x"}],
             "IPs": [{"Address": "10.0.0.2/24", "Gateway": "10.0.0.1", "Interface": 0}],
             "Routes": [{"Dst": "0.0.0.0/0", "GW": "10.0.0.1"}],
             "DNS": {"Nameservers": ["10.0.0.1"], "Domain": "example", "Search": ["a"], "Options": ["ndots:2"]}}
            """);
        var canonical = Parse("""
            {"cniVersion": "1.1.0",
             "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/var/run/netns/x"}],
             "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0}],
             "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
             "dns": {"nameservers": ["10.0.0.1"], "domain": "example", "search": ["a"], "options": ["ndots:2"]}}
            """);
        Assert.Equal(Write(canonical, "1.1.0"), Write(r, "1.1.0"));
        Assert.Equal("aa:bb:cc:dd:ee:ff", r.Interfaces![0].Mac);
        Assert.Equal("10.0.0.1", r.Routes![0].Gw);
        // An exact key wins over a folded one only by coming later: each key sets its field, the last one stays.
        Assert.Equal("b", Parse("""{"cniVersion": "1.1.0", "interfaces": [{"name": "a", "Name": "b"}]}""").Interfaces![0].Name);
        Assert.Equal("a", Parse("""{"cniVersion": "1.1.0", "interfaces": [{"NAME": "b", "name": "a"}]}""").Interfaces![0].Name);
    }

    [Fact]
    public void Unknown_fields_are_ignored_at_every_level()
    {
        var r = Parse("""
            {"cniVersion": "1.1.0", "future": {"x": 1},
             "interfaces": [{"name": "eth0", "vlan": 5}],
             "ips": [{"address": "10.0.0.2/24", "version": "4", "gw": "10.0.0.1"}],
             "routes": [{"dst": "0.0.0.0/0", "weight": 3}],
             "dns": {"nameservers": ["10.0.0.1"], "sortlist": []}}
            """);
        Assert.Null(r.Interfaces![0].Mac);
        Assert.Null(r.IPs![0].Gateway);
        Assert.Equal(["eth0"], r.Interfaces.Select(i => i.Name));
        Assert.Equal("""
            {
                "cniVersion": "1.1.0",
                "interfaces": [
                    {
                        "name": "eth0"
                    }
                ],
                "ips": [
                    {
                        "address": "10.0.0.2/24"
                    }
                ],
                "routes": [
                    {
                        "dst": "0.0.0.0/0"
                    }
                ],
                "dns": {
                    "nameservers": [
                        "10.0.0.1"
                    ]
                }
            }
            """, Write(r, "1.1.0"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("0.4.0")]
    public void Comments_and_trailing_commas_are_accepted(string? version)
    {
        var r = Parse("""
            /* from an IPAM plugin */
            {
              "cniVersion": "0.4.0",
              "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1",},], // one address
              "routes": [{"dst": "0.0.0.0/0",},],
            }
            """, version);
        Assert.Equal("10.0.0.1", r.IPs![0].Gateway);
        Assert.Equal("0.0.0.0/0", r.Routes![0].Dst);
    }

    [Fact]
    public void Null_fields_read_as_absent()
    {
        var r = Parse("""{"cniVersion": "1.0.0", "interfaces": null, "ips": [{"address": "10.0.0.2/24", "gateway": null, "interface": null}], "routes": null, "dns": null}""");
        Assert.Null(r.Interfaces);
        Assert.Null(r.IPs![0].Gateway);
        Assert.Null(r.IPs[0].Interface);
        Assert.Null(r.Routes);
        Assert.Null(r.Dns);
    }

    [Fact]
    public void Every_field_of_the_newest_form_is_read()
    {
        var r = Parse("""
            {"cniVersion": "1.1.0",
             "interfaces": [{"name": "eth0", "mac": "0a:58:0a:01:00:05", "mtu": 1500, "sandbox": "/var/run/netns/c1", "socketPath": "/run/x.sock", "pciID": "0000:00:1f.6"}],
             "ips": [{"interface": 0, "address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
             "routes": [{"dst": "10.2.0.0/16", "gw": "10.1.0.254", "mtu": 1400, "advmss": 1360, "priority": 100, "table": 10, "scope": 253}],
             "dns": {"nameservers": ["10.1.0.1"], "domain": "example.org", "search": ["example.org"], "options": ["ndots:2"]}}
            """);
        var i = r.Interfaces![0];
        Assert.Equal(("eth0", "0a:58:0a:01:00:05", 1500, "/var/run/netns/c1", "/run/x.sock", "0000:00:1f.6"), (i.Name, i.Mac, i.Mtu, i.Sandbox, i.SocketPath, i.PciID));
        var ip = r.IPs![0];
        Assert.Equal((0, "10.1.0.5/16", "10.1.0.1"), (ip.Interface, ip.Address, ip.Gateway));
        var rt = r.Routes![0];
        Assert.Equal(("10.2.0.0/16", "10.1.0.254", 1400, 1360, 100, 10, 253), (rt.Dst, rt.Gw, rt.Mtu, rt.AdvMss, rt.Priority, rt.Table, rt.Scope));
        Assert.Equal(("example.org", "ndots:2"), (r.Dns!.Domain, r.Dns.Options![0]));
    }

    [Theory]
    [MemberData(nameof(ResultConversionTests.Versions), MemberType = typeof(ResultConversionTests))]
    public void A_written_result_reads_back_to_the_same_bytes(string version)
    {
        byte[] first = ResultCodec.Serialize(ResultConversionTests.Sample(), version);
        byte[] again = ResultCodec.Serialize(ResultCodec.Parse(first, version), version);
        Assert.Equal(Encoding.UTF8.GetString(first), Encoding.UTF8.GetString(again));
    }

    [Theory]
    [MemberData(nameof(ResultConversionTests.Versions), MemberType = typeof(ResultConversionTests))]
    public void A_parsed_prevResult_element_reads_like_its_bytes(string version)
    {
        string result = Encoding.UTF8.GetString(ResultCodec.Serialize(ResultConversionTests.Sample(), version));
        var config = NetworkConfig.Parse(Encoding.UTF8.GetBytes($$"""{"cniVersion": "{{version}}", /* chained */ "prevResult": {{result}}}"""));
        var fromElement = ResultCodec.Parse(config.PrevResult!.Value, version);
        var fromBytes = ResultCodec.Parse(Encoding.UTF8.GetBytes(result), version);
        Assert.Equal(Write(fromBytes, "1.1.0"), Write(fromElement, "1.1.0"));
    }

    [Fact]
    public void Strings_are_escaped_like_the_serializers_default_encoder_and_read_back()
    {
        const string name = "<&>'\"\\`+ é\n\t\u0001😀";
        var r = new Result { Interfaces = [new Interface { Name = name }], IPs = [new IPConfig { Address = "10.0.0.2/24" }] };
        string json = Write(r, "1.0.0");
        Assert.Contains("""
            "name": "\u003C\u0026\u003E\u0027\u0022\\\u0060\u002B \u00E9\n\t\u0001\uD83D\uDE00"
            """, json);
        Assert.Equal(name, Parse(json).Interfaces![0].Name);
    }

    [Fact]
    public void Null_fields_are_left_out_and_empty_lists_written()
    {
        var r = new Result
        {
            IPs = [new IPConfig { Address = "10.0.0.2/24" }],
            Dns = new Dns { Nameservers = [], Domain = "example.org", Search = null },
        };
        Assert.Equal("""
            {
                "cniVersion": "1.0.0",
                "ips": [
                    {
                        "address": "10.0.0.2/24"
                    }
                ],
                "dns": {
                    "nameservers": [],
                    "domain": "example.org"
                }
            }
            """, Write(r, "1.0.0"));
    }
}
