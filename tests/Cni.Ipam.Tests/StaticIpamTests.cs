using System.Text;
using System.Text.Json.Nodes;
using Cni.Ipam;
using Cni.Ipam.Static;
using Cni.Plugins.Static;
using Cni.Spec;

namespace Cni.Ipam.Tests;

/// <summary>
/// The static IPAM plugin: where addresses come from and in which order (config, CNI_ARGS IP/GATEWAY, args.cni.ips,
/// the ips capability), validation, and the printed result's shape as the reference prints it.
/// </summary>
public class StaticIpamTests
{
    private static StaticIpam Parse(string json, string cniArgs = "") => StaticIpam.Parse(Encoding.UTF8.GetBytes(json), CniArgs.Parse(cniArgs));

    private const string TwoAddresses = """
        {"cniVersion":"1.0.0","name":"n","type":"macvlan","ipam":{"type":"static",
          "addresses":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"},{"address":"3ffe:ffff:0:01ff::1/64"}],
          "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.10.5.1"}],
          "dns":{"nameservers":["10.10.0.1"],"domain":"example.com","search":["example.com"]}}}
        """;

    [Fact]
    public void Config_addresses_routes_and_dns_are_handed_out_as_configured()
    {
        var s = Parse(TwoAddresses);
        Assert.Equal(["10.10.0.1/24", "3ffe:ffff:0:1ff::1/64"], s.Addresses.Select(a => a.Address.ToString()));
        Assert.Equal("10.10.0.254", s.Addresses[0].Gateway?.ToString());
        Assert.Null(s.Addresses[1].Gateway);
        Assert.Equal(["0.0.0.0/0", "192.168.0.0/16"], s.Routes!.Select(r => r.Dst));
        Assert.Equal("10.10.5.1", s.Routes![1].Gw);
        Assert.Equal(["10.10.0.1"], s.Dns.Nameservers!);
        Assert.Equal("example.com", s.Dns.Domain);
    }

    [Fact]
    public void Cni_args_IP_is_appended_and_GATEWAY_applies_only_to_the_CNI_ARGS_addresses_that_contain_it()
    {
        // As the reference: GATEWAY is matched against the IP= addresses only; the config's 10.10.0.1/24 keeps its gateway.
        var s = Parse(TwoAddresses, "IP=10.1.1.1/24, fd00::5/64;GATEWAY=10.1.1.254,10.10.0.3,fd00::1");
        Assert.Equal(["10.10.0.1/24", "3ffe:ffff:0:1ff::1/64", "10.1.1.1/24", "fd00::5/64"], s.Addresses.Select(a => a.Address.ToString()));
        Assert.Equal(["10.10.0.254", null, "10.1.1.254", "fd00::1"], s.Addresses.Select(a => a.Gateway?.ToString()));
    }

    [Fact]
    public void Args_cni_ips_replace_the_config_and_CNI_ARGS_and_the_ips_capability_replaces_those()
    {
        string withArgs = TwoAddresses.Replace("\"type\":\"macvlan\",", "\"type\":\"macvlan\",\"args\":{\"cni\":{\"ips\":[\"10.5.0.5/16\"]}},");
        var s = Parse(withArgs, "IP=10.1.1.1/24");
        Assert.Equal(["10.5.0.5/16"], s.Addresses.Select(a => a.Address.ToString()));
        Assert.Null(s.Addresses[0].Gateway);

        string withBoth = withArgs.Replace("\"type\":\"macvlan\",", "\"type\":\"macvlan\",\"runtimeConfig\":{\"ips\":[\"10.6.0.6/24\",\"fd00:6::6/64\"]},");
        s = Parse(withBoth, "IP=10.1.1.1/24");
        Assert.Equal(["10.6.0.6/24", "fd00:6::6/64"], s.Addresses.Select(a => a.Address.ToString()));
        Assert.All(s.Addresses, a => Assert.Null(a.Gateway));
    }

    [Fact]
    public void An_empty_capability_list_keeps_the_config_addresses()
    {
        var s = Parse(TwoAddresses.Replace("\"type\":\"macvlan\",", "\"type\":\"macvlan\",\"runtimeConfig\":{\"ips\":[]},"));
        Assert.Equal(2, s.Addresses.Count);
    }

    [Fact]
    public void Go_cased_keys_read_as_the_canonical_ones()
    {
        // containerd and Multus write Go field names; the reference decodes with encoding/json.
        var s = Parse("""
            {"CNIVersion":"1.0.0","Name":"n","IPAM":{"Type":"static","Addresses":[{"Address":"10.0.0.2/24","Gateway":"10.0.0.1"}],
              "Routes":[{"Dst":"0.0.0.0/0","GW":"10.0.0.1"}],"DNS":{"Nameservers":["1.1.1.1"]}},
             "RuntimeConfig":{"IPs":["10.0.0.9/24"]}}
            """);
        Assert.Equal("1.0.0", s.CniVersion);
        Assert.Equal("10.0.0.9/24", Assert.Single(s.Addresses).Address.ToString());
        Assert.Equal("10.0.0.1", Assert.Single(s.Routes!).Gw);
        Assert.Equal(["1.1.1.1"], s.Dns.Nameservers!);
    }

    [Theory]
    [InlineData("""{"cniVersion":"1.0.0","name":"n"}""", "IPAM config missing 'ipam' key")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1"}]}}""", "the 'address' field is expected to be in CIDR notation, got: '10.10.0.1'")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24","gateway":"10.10.0"}]}}""", "invalid gateway")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","routes":[{"dst":"10.0.0.0"}]}}""", "invalid route destination")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static"},"runtimeConfig":{"ips":["10.0.0.1"]}}""", "an entry in the 'ips' field is NOT in CIDR notation, got: '10.0.0.1'")]
    [InlineData("""{"cniVersion":"0.2.0","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24"},{"address":"10.10.0.2/24"}]}}""", "CNI version 0.2.0 does not support more than 1 address per family")]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":{"address":"10.10.0.1/24"}}}""", "failed to load static IPAM config")]
    public void Bad_config_is_refused_with_the_reason(string json, string message)
    {
        var e = Assert.Throws<IpamConfigException>(() => Parse(json));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Bad_CNI_ARGS_are_refused()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static"}}""";
        Assert.Contains("CIDR", Assert.Throws<IpamConfigException>(() => Parse(conf, "IP=10.0.0.1")).Message);
        Assert.Contains("invalid gateway address", Assert.Throws<IpamConfigException>(() => Parse(conf, "IP=10.0.0.1/24;GATEWAY=nope")).Message);
        Assert.Equal(ErrorCode.UnsupportedField, Assert.Throws<CniException>(() => Parse(conf, "FOO=1")).Code);
        Assert.Single(Parse(conf, "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.0.0.1/24").Addresses);
    }

    [Fact]
    public void A_config_address_that_the_capability_replaces_is_not_validated()
    {
        // The reference parses the config's address strings only after the replacements.
        var s = Parse("""{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":[{"address":"bogus"}]},"runtimeConfig":{"ips":["10.0.0.1/8"]}}""");
        Assert.Equal("10.0.0.1/8", Assert.Single(s.Addresses).Address.ToString());
    }

    // ---- the plugin through the dispatcher: result shapes as the reference prints them ----

    private static (int Exit, JsonNode? Output) Run(string command, string config, string cniArgs = "")
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = "c1", ["CNI_NETNS"] = "/var/run/netns/x",
            ["CNI_IFNAME"] = "eth0", ["CNI_PATH"] = "/nowhere", ["CNI_ARGS"] = cniArgs,
        };
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(config));
        using var stdout = new MemoryStream();
        int exit = Dispatcher.Run(new StaticPlugin(), env, stdin, stdout, TextWriter.Null);
        string text = Encoding.UTF8.GetString(stdout.ToArray());
        return (exit, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public void Add_prints_ips_with_gateways_routes_and_dns_and_no_interfaces()
    {
        var (exit, r) = Run("ADD", TwoAddresses);
        Assert.Equal(0, exit);
        Assert.Equal("""
            {"cniVersion":"1.0.0","ips":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"},{"address":"3ffe:ffff:0:1ff::1/64"}],"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.10.5.1"}],"dns":{"nameservers":["10.10.0.1"],"domain":"example.com","search":["example.com"]}}
            """, r!.ToJsonString());
    }

    [Fact]
    public void Add_without_addresses_prints_only_the_version()
    {
        // The reference prints "dns":{} here (a Go struct is never omitted); the suite's codec leaves an empty dns out
        // everywhere, which a runtime reads the same.
        var (exit, r) = Run("ADD", """{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static"}}""");
        Assert.Equal(0, exit);
        Assert.Equal("""{"cniVersion":"1.0.0"}""", r!.ToJsonString());
    }

    [Fact]
    public void Add_for_a_0_3_1_config_prints_versioned_ips()
    {
        var (exit, r) = Run("ADD", """{"cniVersion":"0.3.1","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24"}]},"runtimeConfig":{"ips":["10.2.2.2/16"]}}""");
        Assert.Equal(0, exit);
        Assert.Equal("""{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.2.2.2/16"}]}""", r!.ToJsonString());
    }

    [Fact]
    public void Bad_config_is_code_7_and_unknown_CNI_ARGS_code_2()
    {
        var (exit, r) = Run("ADD", """{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":[{"address":"x"}]}}""");
        Assert.NotEqual(0, exit);
        Assert.Equal(7, (int)r!["code"]!);
        (exit, r) = Run("ADD", """{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static"}}""", "FOO=1");
        Assert.NotEqual(0, exit);
        Assert.Equal(2, (int)r!["code"]!);
    }

    [Fact]
    public void Del_Status_and_Gc_succeed_with_nothing_to_do()
    {
        const string conf = """{"cniVersion":"1.1.0","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24"}]}}""";
        Assert.Equal(0, Run("DEL", conf).Exit);
        Assert.Equal(0, Run("STATUS", conf).Exit);
        Assert.Equal(0, Run("GC", conf.Replace("}}", "},\"cni.dev/valid-attachments\":[]}")).Exit);
    }

    [Fact]
    public void Check_needs_the_configured_addresses_and_gateways_in_prevResult()
    {
        const string conf = """{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static","addresses":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"}]}""";
        Assert.Equal(0, Run("CHECK", conf + ""","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.10.0.1/24","gateway":"10.10.0.254"}]}}""").Exit);
        Assert.NotEqual(0, Run("CHECK", conf + ""","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.10.0.1/24","gateway":"10.10.0.1"}]}}""").Exit);
        Assert.NotEqual(0, Run("CHECK", conf + ""","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.10.0.2/24","gateway":"10.10.0.254"}]}}""").Exit);
        Assert.NotEqual(0, Run("CHECK", conf + "}").Exit);
    }
}
