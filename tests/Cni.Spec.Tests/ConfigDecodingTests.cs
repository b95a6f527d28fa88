using System.Text;
using System.Text.Json;
using Cni.Spec;

namespace Cni.Spec.Tests;

/// <summary>How configs, config lists, runtimeConfig values and GC's attachments are read from JSON.</summary>
public class ConfigDecodingTests
{
    private static NetworkConfig Parse(string json) => NetworkConfig.Parse(Encoding.UTF8.GetBytes(json));

    private static CniRequest Request(string json) => new()
    {
        Command = "GC",
        Config = Parse(json),
        StdinData = Encoding.UTF8.GetBytes(json),
        Environment = new Dictionary<string, string>(),
    };

    [Theory]
    [InlineData("""{"cniVersion": 1}""", "$.cniVersion")]
    [InlineData("""{"cniVersions": "1.0.0"}""", "$.cniVersions")]
    [InlineData("""{"cniVersions": ["1.0.0", 1]}""", "$.cniVersions[1]")]
    [InlineData("""{"name": ["net1"]}""", "$.name")]
    [InlineData("""{"type": {}}""", "$.type")]
    [InlineData("""{"disableCheck": "true"}""", "$.disableCheck")]
    [InlineData("""{"disableGC": null}""", "$.disableGC")]
    [InlineData("""{"ipam": "host-local"}""", "$.ipam")]
    [InlineData("""{"ipam": {"type": 1}}""", "$.ipam.type")]
    [InlineData("""{"dns": []}""", "$.dns")]
    [InlineData("""{"dns": {"nameservers": "10.0.0.1"}}""", "$.dns.nameservers")]
    [InlineData("""{"dns": {"domain": 1}}""", "$.dns.domain")]
    [InlineData("""{"args": []}""", "$.args")]
    [InlineData("""{"runtimeConfig": "x"}""", "$.runtimeConfig")]
    [InlineData("""{"capabilities": []}""", "$.capabilities")]
    [InlineData("""{"capabilities": {"portMappings": "yes"}}""", "$.capabilities.portMappings")]
    public void A_field_of_the_wrong_kind_is_a_decoding_failure_naming_it(string json, string path)
    {
        var e = Assert.Throws<CniException>(() => Parse(json));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("error decoding network config: ", e.Message);
        Assert.Contains($"'{path}'", e.Message);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("5")]
    [InlineData("\"config\"")]
    [InlineData("{")]
    [InlineData("{}{}")]
    [InlineData("{'name': 'n'}")]
    public void A_document_that_is_not_one_json_object_is_a_decoding_failure(string json)
    {
        var e = Assert.Throws<CniException>(() => Parse(json));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("error decoding network config: ", e.Message);
    }

    [Fact]
    public void A_null_document_is_an_empty_document()
    {
        var e = Assert.Throws<CniException>(() => Parse("null"));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.Equal("error decoding network config: empty document", e.Message);
    }

    [Fact]
    public void Invalid_utf8_in_a_value_or_a_name_is_a_decoding_failure()
    {
        byte[] inValue = [.. """{"name":"n"""u8, 0xFF, .. "\"}"u8];
        byte[] inName = [.. """{"x"""u8, 0xC3, .. "\":1}"u8];
        Assert.Equal(ErrorCode.DecodingFailure, Assert.Throws<CniException>(() => NetworkConfig.Parse(inValue)).Code);
        Assert.Equal(ErrorCode.DecodingFailure, Assert.Throws<CniException>(() => NetworkConfig.Parse(inName)).Code);
    }

    [Fact]
    public void Null_fields_read_as_absent()
    {
        var c = Parse("""
            {"cniVersion": null, "cniVersions": null, "name": null, "type": null, "ipam": null, "dns": null,
             "args": null, "runtimeConfig": null, "capabilities": null, "prevResult": null}
            """);
        Assert.Null(c.CniVersion);
        Assert.Equal("0.1.0", c.Version);
        Assert.Null(c.CniVersions);
        Assert.Null(c.Name);
        Assert.Null(c.Type);
        Assert.Null(c.Ipam);
        Assert.Null(c.IpamType);
        Assert.Null(c.Dns);
        Assert.Null(c.Args);
        Assert.Null(c.RuntimeConfig);
        Assert.Null(c.Capabilities);
        Assert.Null(c.PrevResult);
        Assert.Null(c.Extra);
    }

    [Fact]
    public void Keys_select_fields_as_Go_does_and_unknown_fields_are_kept_by_their_name()
    {
        // Go's encoding/json: a key selects the field of that name, else the field whose name it equals ignoring
        // case; every key sets its field, so the last of "name" and "Name" wins.
        var c = Parse("""
            {"cniVersion": "1.1.0", "name": "n", "Name": "other", "TYPE": "x", "bridge": "cni0", "mtu": 1400,
             "nested": {"a": [1, null]}, "nothing": null, "Bridge": "kept",
             "ipam": {"type": "host-local", "subnet": "10.1.0.0/16", "Type": "y"}}
            """);
        Assert.Equal("other", c.Name);
        Assert.Equal("x", c.Type);
        Assert.Equal("y", c.Ipam!.Type);
        Assert.Equal(["bridge", "mtu", "nested", "nothing", "Bridge"], c.Extra!.Keys);
        Assert.Equal("kept", c.Extra["Bridge"].GetString());
        Assert.Equal(1400, c.Extra["mtu"].GetInt32());
        Assert.Equal("""{"a": [1, null]}""", c.Extra["nested"].GetRawText());
        Assert.Equal(JsonValueKind.Null, c.Extra["nothing"].ValueKind);
        Assert.Equal("y", c.IpamType);
        Assert.Equal(["subnet"], c.Ipam!.Extra!.Keys);
        Assert.Equal("10.1.0.0/16", c.Ipam.Extra["subnet"].GetString());
    }

    [Fact]
    public void Extra_is_null_when_every_field_is_known()
    {
        var c = Parse("""{"cniVersion": "1.1.0", "name": "n", "type": "bridge", "ipam": {"type": "host-local"}}""");
        Assert.Null(c.Extra);
        Assert.Null(c.Ipam!.Extra);
    }

    [Fact]
    public void Comments_and_trailing_commas_are_accepted()
    {
        var c = Parse("""
            // a bridge network
            {
              "cniVersion": "1.0.0", /* the newest we use */
              "name": "net1",
              "type": "bridge",
              "cniVersions": ["0.4.0", "1.0.0",],
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/16"},],],},
              "dns": {"nameservers": ["10.1.0.1",],},
              "capabilities": {"portMappings": true,},
            }
            """);
        Assert.Equal("net1", c.Name);
        Assert.Equal(["0.4.0", "1.0.0"], c.CniVersions!);
        Assert.Equal("10.1.0.0/16", c.Ipam!.Extra!["ranges"][0][0].GetProperty("subnet").GetString());
        Assert.Equal(["10.1.0.1"], c.Dns!.Nameservers!);
        Assert.True(c.Capabilities!["portMappings"]);
    }

    [Fact]
    public void A_repeated_field_takes_its_last_value()
    {
        var c = Parse("""{"name": "a", "name": "b", "x": 1, "x": 2, "capabilities": {"ips": true, "ips": false}}""");
        Assert.Equal("b", c.Name);
        Assert.Equal(2, c.Extra!["x"].GetInt32());
        Assert.False(c.Capabilities!["ips"]);
    }

    [Fact]
    public void Dns_of_a_config_is_read_whole_and_its_unknown_fields_ignored()
    {
        var c = Parse("""{"dns": {"nameservers": ["10.0.0.1", "fd00::1"], "domain": "example.org", "search": ["a.example.org"], "options": ["ndots:5"], "sortlist": ["x"]}}""");
        Assert.Equal(["10.0.0.1", "fd00::1"], c.Dns!.Nameservers!);
        Assert.Equal("example.org", c.Dns.Domain);
        Assert.Equal(["a.example.org"], c.Dns.Search!);
        Assert.Equal(["ndots:5"], c.Dns.Options!);
    }

    [Fact]
    public void Args_and_runtimeConfig_are_objects_that_stay_readable()
    {
        var c = Parse("""{"args": {"cni": {"ips": ["10.1.0.9"]}}, "runtimeConfig": {"mac": "0a:58:0a:01:00:09"}}""");
        GC.Collect();
        Assert.Equal("10.1.0.9", c.Args!.Value.GetProperty("cni").GetProperty("ips")[0].GetString());
        Assert.Equal("0a:58:0a:01:00:09", c.RuntimeConfig!.Value.GetProperty("mac").GetString());
    }

    [Fact]
    public void PrevResult_is_kept_as_sent()
    {
        var c = Parse("""{"cniVersion": "1.0.0", "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}}""");
        Assert.Equal("10.0.0.2/24", c.PrevResult!.Value.GetProperty("ips")[0].GetProperty("address").GetString());
    }

    [Fact]
    public void A_runtimeConfig_value_is_found_by_its_key_or_a_key_equal_ignoring_case()
    {
        var r = Request("""{"runtimeConfig": {"portMappings": [{"hostPort": 8080}], "bandwidth": null, "mac": "a", "mac": "b"}}""");
        Assert.Equal(8080, r.RuntimeConfigValue("portMappings")!.Value[0].GetProperty("hostPort").GetInt32());
        Assert.Equal("b", r.RuntimeConfigValue("mac")!.Value.GetString());
        Assert.Null(r.RuntimeConfigValue("bandwidth"));
        Assert.Equal(8080, r.RuntimeConfigValue("PortMappings")!.Value[0].GetProperty("hostPort").GetInt32());
        Assert.Null(r.RuntimeConfigValue("ips"));
        // The last key that selects the capability wins, as in Go.
        Assert.Equal("c", Request("""{"runtimeConfig": {"mac": "a", "MAC": "c"}}""").RuntimeConfigValue("mac")!.Value.GetString());
        Assert.Null(Request("""{"name": "n"}""").RuntimeConfigValue("portMappings"));
    }

    [Fact]
    public void A_conflist_keeps_unknown_fields_and_accepts_comments()
    {
        var l = NetworkConfigList.Parse("""
            {
              // two plugins
              "cniVersion": "1.1.0", "name": "n", "disableCheck": true, "disableGC": false, "owner": "me",
              "plugins": [{"type": "bridge", "bridge": "cni0"}, {"type": "portmap"},],
            }
            """u8);
        Assert.Equal("1.1.0", l.CniVersion);
        Assert.Equal("n", l.Name);
        Assert.True(l.DisableCheck);
        Assert.Equal("me", l.Extra!["owner"].GetString());
        Assert.Equal("bridge", (string?)l.Plugins![0]!["type"]);
        Assert.Equal("cni0", (string?)l.Plugins[0]!["bridge"]);
        Assert.Equal("portmap", (string?)l.Plugins[1]!["type"]);
    }

    [Theory]
    [InlineData("""{"name": 1, "plugins": [{}]}""", "$.name")]
    [InlineData("""{"plugins": {"type": "bridge"}}""", "$.plugins")]
    [InlineData("""{"plugins": [{"type": "bridge"}, 5]}""", "$.plugins[1]")]
    [InlineData("""{"disableCheck": "yes", "plugins": [{}]}""", "$.disableCheck")]
    [InlineData("""{"cniVersions": [1], "plugins": [{}]}""", "$.cniVersions[0]")]
    public void A_conflist_field_of_the_wrong_kind_is_a_decoding_failure(string json, string path)
    {
        var e = Assert.Throws<CniException>(() => NetworkConfigList.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("error decoding network config list: ", e.Message);
        Assert.Contains($"'{path}'", e.Message);
    }

    [Theory]
    [InlineData("""{"name": "n"}""")]
    [InlineData("""{"name": "n", "plugins": null}""")]
    public void A_conflist_without_a_plugins_list_is_an_invalid_config(string json)
    {
        var e = Assert.Throws<CniException>(() => NetworkConfigList.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
    }

    [Fact]
    public void Attachments_ignore_unknown_fields_and_match_names_as_Go_does()
    {
        var r = Request("""
            {"cni.dev/valid-attachments": [
                {"containerID": "c1", "ifname": "eth0", "podName": "web"},
                {"ContainerID": "c2", "IFNAME": "eth1"},
                {"containerID": null, "ifname": "eth2"},
            ]}
            """);
        Assert.Equal([new Attachment("c1", "eth0"), new Attachment("c2", "eth1"), new Attachment("", "eth2")], r.ValidAttachments);
    }

    [Fact]
    public void The_valid_attachments_key_wins_over_the_older_one()
    {
        var r = Request("""{"cni.dev/attachments": [{"containerID": "old", "ifname": "eth0"}], "cni.dev/valid-attachments": [{"containerID": "new", "ifname": "eth0"}]}""");
        Assert.Equal("new", Assert.Single(r.ValidAttachments).ContainerId);
    }

    [Theory]
    [InlineData("""{"cni.dev/valid-attachments": null}""")]
    [InlineData("""{"cni.dev/valid-attachments": []}""")]
    [InlineData("""{"cni.dev/attachments": null}""")]
    [InlineData("""{"name": "n"}""")]
    public void Null_empty_or_missing_attachments_are_an_empty_list(string json)
    {
        Assert.Empty(Request(json).ValidAttachments);
    }

    [Theory]
    [InlineData("""{"cni.dev/valid-attachments": 5}""", "$['cni.dev/valid-attachments']")]
    [InlineData("""{"cni.dev/valid-attachments": {"containerID": "c1", "ifname": "eth0"}}""", "$['cni.dev/valid-attachments']")]
    [InlineData("""{"cni.dev/valid-attachments": [null]}""", "$['cni.dev/valid-attachments'][0]")]
    [InlineData("""{"cni.dev/valid-attachments": ["c1 eth0"]}""", "$['cni.dev/valid-attachments'][0]")]
    [InlineData("""{"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": 0}]}""", "$['cni.dev/valid-attachments'][0].ifname")]
    [InlineData("""{"cni.dev/attachments": [{"containerID": 1}]}""", "$['cni.dev/attachments'][0].containerID")]
    public void Attachments_of_the_wrong_kind_are_a_decoding_failure(string json, string path)
    {
        var r = Request(json);
        var e = Assert.Throws<CniException>(() => r.ValidAttachments);
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.StartsWith("invalid cni.dev/valid-attachments: ", e.Message);
        Assert.Contains($"'{path}'", e.Message);
    }
}
