using System.Text;
using Cni.Plugins.Tuning;
using Cni.Spec;

namespace Cni.Plugins.Tests.Tuning;

/// <summary>tuning's options, sysctl key rules, allow-list and saved-values file, without root.</summary>
public sealed class TuningOptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tuning-opts-").FullName;
    private string NoAllowlist => Path.Combine(_dir, "absent.conf");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private TuningOptions Options(string json, string cniArgs = "", string ifName = "eth0", string? allowlist = null) =>
        TuningOptions.From(TuningConfig.Parse(Encoding.UTF8.GetBytes(json)), CniArgs.Parse(cniArgs), ifName, allowlist ?? NoAllowlist);

    [Fact]
    public void The_MAC_comes_from_config_then_CNI_ARGS_then_the_capability_then_args_cni()
    {
        const string mac1 = "c2:00:00:00:00:01", mac2 = "c2:00:00:00:00:02", mac3 = "c2:00:00:00:00:03", mac4 = "c2:00:00:00:00:04";
        string conf = $$"""{"name":"n","type":"tuning","mac":"{{mac1}}"}""";
        Assert.Equal(mac1, Options(conf).Mac.ToString());
        Assert.Equal(mac2, Options(conf, $"MAC={mac2}").Mac.ToString());
        string withCapability = conf[..^1] + $$$""","runtimeConfig":{"mac":"{{{mac3}}}"}}""";
        Assert.Equal(mac3, Options(withCapability, $"MAC={mac2}").Mac.ToString());
        string withArgs = withCapability[..^1] + $$$$""","args":{"cni":{"mac":"{{{{mac4}}}}"}}}""";
        Assert.Equal(mac4, Options(withArgs, $"MAC={mac2}").Mac.ToString());
    }

    [Fact]
    public void Mac_is_written_lower_case_and_must_be_unicast()
    {
        Assert.Equal("c2:aa:bb:cc:dd:ee", Options("""{"mac":"C2:AA:BB:CC:DD:EE"}""").Mac.ToString());
        Assert.Equal(ErrorCode.InvalidNetworkConfig, Assert.Throws<CniException>(() => Options("""{"mac":"01:00:5e:00:00:01"}""")).Code);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, Assert.Throws<CniException>(() => Options("""{"mac":"nope"}""")).Code);
        Assert.Equal(ErrorCode.UnsupportedField, Assert.Throws<CniException>(() => Options("{}", "FOO=1")).Code);
    }

    [Fact]
    public void Args_cni_overrides_link_fields_and_merges_sysctls()
    {
        var o = Options("""
            {"sysctl":{"net.ipv4.conf.IFNAME.rp_filter":"1","net.core.somaxconn":"500"},"mtu":1400,"promisc":false,
             "args":{"cni":{"sysctl":{"net.core.somaxconn":"600","net.ipv4.conf.all.log_martians":"1"},"mtu":1300,"promisc":true,"allmulti":true,"txQLen":500}}}
            """);
        Assert.Equal([("net/ipv4/conf/eth0/rp_filter", "1"), ("net/core/somaxconn", "600"), ("net/ipv4/conf/all/log_martians", "1")],
            o.Sysctls.Select(s => (s.Path, s.Value)));
        Assert.Equal((1300, true, (bool?)true, (int?)500), (o.Mtu, o.Promisc, o.Allmulti, o.TxQLen));
        Assert.True(o.ChangesLink);
    }

    [Fact]
    public void Go_cased_keys_read_as_the_canonical_ones()
    {
        var o = Options("""{"SysCtl":{"net.core.somaxconn":"500"},"MAC":"c2:00:00:00:00:09","Promisc":true,"MTU":1450,"TxQLen":100,"AllMulti":false,"DataDir":"/tmp/x","RuntimeConfig":{"Mac":"c2:00:00:00:00:0a"}}""");
        Assert.Equal("net/core/somaxconn", Assert.Single(o.Sysctls).Path);
        Assert.Equal("c2:00:00:00:00:0a", o.Mac.ToString());
        Assert.Equal((true, 1450, (int?)100, (bool?)false, "/tmp/x"), (o.Promisc, o.Mtu, o.TxQLen, o.Allmulti, o.DataDir));
    }

    [Theory]
    [InlineData("net.ipv4.conf.IFNAME.rp_filter", "eth0", "net/ipv4/conf/eth0/rp_filter")]
    [InlineData("net/ipv4/conf/IFNAME/rp_filter", "eth0.100", "net/ipv4/conf/eth0.100/rp_filter")]
    [InlineData("net.ipv4.conf.IFNAME.rp_filter", "eth0.100", "net/ipv4/conf/eth0.100/rp_filter")]
    [InlineData("net.core.somaxconn", "eth0", "net/core/somaxconn")]
    public void Keys_become_paths_under_proc_sys_net(string key, string ifName, string path) =>
        Assert.Equal(path, TuningOptions.PathOf(key, ifName));

    [Theory]
    [InlineData("kernel.hostname")]
    [InlineData("net/../kernel/hostname")]
    [InlineData("net/ipv4/../../kernel/hostname")]
    [InlineData("/net/ipv4/ip_forward")]
    [InlineData("net")]
    [InlineData("net..ipv4.ip_forward")]
    [InlineData("net/./ipv4/ip_forward")]
    public void Keys_outside_net_or_with_dot_parts_are_refused(string key)
    {
        var e = Assert.Throws<CniException>(() => TuningOptions.PathOf(key, "eth0"));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("invalid net sysctl key", e.Message);
    }

    [Fact]
    public void Duplicate_sysctl_keys_are_a_decoding_error()
    {
        var e = Assert.Throws<CniException>(() => Options("""{"sysctl":{"net.core.somaxconn":"1","net.core.somaxconn":"2"}}"""));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
        Assert.Contains("duplicated sysctl keys are not allowed", e.Message);
    }

    [Fact]
    public void The_allow_list_when_present_admits_only_matching_keys()
    {
        string allowlist = Path.Combine(_dir, "allowlist.conf");
        File.WriteAllText(allowlist, "^net\\.ipv4\\.conf\\.IFNAME\\.[a-z_]*$\n\n  ^net\\.core\\.somaxconn$  \n");
        Assert.Single(Options("""{"sysctl":{"net.ipv4.conf.IFNAME.rp_filter":"1"}}""", allowlist: allowlist).Sysctls);
        Assert.Single(Options("""{"sysctl":{"net.core.somaxconn":"1"}}""", allowlist: allowlist).Sysctls);
        var e = Assert.Throws<CniException>(() => Options("""{"sysctl":{"net.ipv4.ip_forward":"1"}}""", allowlist: allowlist));
        Assert.Contains("Sysctl net.ipv4.ip_forward is not allowed", e.Message);
        // Without the file every net key is allowed.
        Assert.Single(Options("""{"sysctl":{"net.ipv4.ip_forward":"1"}}""").Sysctls);
    }

    [Fact]
    public void The_saved_values_use_the_reference_file_name_and_keys_and_read_back()
    {
        Assert.Equal("/run/cni/tuning/abc_eth0.json", TuningBackup.PathOf(TuningOptions.DefaultDataDir, new Attachment("abc", "eth0")));
        var b = new TuningBackup { Mac = "c2:00:00:00:00:01", Promisc = false, Mtu = 1500, Allmulti = true, TxQLen = 1000, Sysctl = [new("net/core/somaxconn", "4096")] };
        string json = Encoding.UTF8.GetString(b.ToJson());
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Assert.Equal(("c2:00:00:00:00:01", false, 1500, true, 1000), ((string)node["mac"]!, (bool)node["promisc"]!, (int)node["mtu"]!, (bool)node["allmulti"]!, (int)node["txQLen"]!));
        var back = TuningBackup.Parse(Encoding.UTF8.GetBytes(json))!;
        Assert.Equal((b.Mac, b.Promisc, b.Mtu, b.Allmulti, b.TxQLen), (back.Mac, back.Promisc, back.Mtu, back.Allmulti, back.TxQLen));
        Assert.Equal(b.Sysctl, back.Sysctl);
        // What the reference writes (json.MarshalIndent of configToRestore) reads too.
        var reference = TuningBackup.Parse("{\n \"mac\": \"0a:58:0a:f4:01:05\",\n \"mtu\": 1450\n}"u8)!;
        Assert.Equal(("0a:58:0a:f4:01:05", 1450, (bool?)null), (reference.Mac, reference.Mtu, reference.Promisc));
        Assert.Null(TuningBackup.Parse("not json"u8));
    }
}
