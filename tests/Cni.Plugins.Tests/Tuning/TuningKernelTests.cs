using System.Text.Json.Nodes;
using Cni.Plugins.Tuning;
using Cni.Spec;

namespace Cni.Plugins.Tests.Tuning;

/// <summary>tuning against the kernel: a container namespace with a veth "eth0" made by the test (never the root namespace).</summary>
public sealed class TuningKernelTests : IDisposable
{
    private readonly BridgeNode _node = new();
    private readonly string _dataDir = Directory.CreateTempSubdirectory("tuning-data-").FullName;
    private readonly string _allowlist;
    private readonly TuningPlugin _plugin;
    private readonly string _ctr;

    public TuningKernelTests()
    {
        _allowlist = Path.Combine(_dataDir, "no-allowlist.conf");
        _plugin = new TuningPlugin(_allowlist);
        _ctr = _node.NewNamespace();
        _node.Ip(_ctr, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
        _node.Ip(_ctr, "link", "set", "eth0", "address", "c2:11:11:11:11:11", "mtu", "1500", "txqueuelen", "1000");
        _node.Ip(_ctr, "link", "set", "eth0", "up");
    }

    public void Dispose()
    {
        _node.Dispose();
        Directory.Delete(_dataDir, recursive: true);
    }

    private string Config(string fields) =>
        $$$"""
        {"cniVersion":"1.0.0","name":"tnet","type":"tuning","dataDir":"{{{_dataDir}}}",{{{fields}}},
         "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"c2:11:11:11:11:11","sandbox":"{{{BridgeNode.PathOf(_ctr)}}}"}],
                       "ips":[{"interface":0,"address":"10.9.0.2/24","gateway":"10.9.0.1"}]}}
        """;

    private string Link() => _node.Ip(_ctr, "-d", "link", "show", "dev", "eth0");
    private string Sysctl(string key) => _node.Exec(_ctr, "cat", "/proc/sys/" + key).Trim();
    private string SavedFile => Path.Combine(_dataDir, "ctr1_eth0.json");

    [KernelFact]
    public void Add_sets_everything_passes_prevResult_on_with_the_new_mac_and_Del_restores_it()
    {
        string conf = Config("""
            "sysctl":{"net.ipv4.conf.IFNAME.rp_filter":"2","net.core.somaxconn":"512"},
            "mac":"C2:22:22:22:22:22","mtu":1400,"promisc":true,"allmulti":true,"txQLen":500
            """);
        string rpBefore = Sysctl("net/ipv4/conf/eth0/rp_filter"), somaxBefore = Sysctl("net/core/somaxconn");
        var result = _node.Add(_plugin, conf, _ctr);

        Assert.Equal("c2:22:22:22:22:22", (string?)result["interfaces"]![0]!["mac"]);
        Assert.Equal("10.9.0.2/24", (string?)result["ips"]![0]!["address"]);
        Assert.Equal(0, (int?)result["ips"]![0]!["interface"]);
        string link = Link();
        Assert.Contains("link/ether c2:22:22:22:22:22", link);
        Assert.Contains("mtu 1400", link);
        Assert.Contains("PROMISC", link);
        Assert.Contains("ALLMULTI", link);
        Assert.Contains("qlen 500", link);
        Assert.Equal("2", Sysctl("net/ipv4/conf/eth0/rp_filter"));
        Assert.Equal("512", Sysctl("net/core/somaxconn"));
        Assert.True(File.Exists(SavedFile));

        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), _ctr);
        Assert.True(exit == 0, output);

        (exit, output) = _node.Invoke(_plugin, "DEL", conf, _ctr);
        Assert.True(exit == 0, output);
        link = Link();
        Assert.Contains("link/ether c2:11:11:11:11:11", link);
        Assert.Contains("mtu 1500", link);
        Assert.DoesNotContain("PROMISC", link);
        Assert.DoesNotContain("ALLMULTI", link);
        Assert.Contains("qlen 1000", link);
        Assert.Equal(rpBefore, Sysctl("net/ipv4/conf/eth0/rp_filter"));
        Assert.Equal(somaxBefore, Sysctl("net/core/somaxconn"));
        Assert.False(File.Exists(SavedFile));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, _ctr).Exit);
    }

    [KernelFact]
    public void Check_fails_when_a_value_changed_afterwards()
    {
        string conf = Config("""  "sysctl":{"net.core.somaxconn":"512"},"mtu":1400  """);
        var result = _node.Add(_plugin, conf, _ctr);
        _node.Ip(_ctr, "link", "set", "eth0", "mtu", "1450");
        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), _ctr);
        Assert.NotEqual(0, exit);
        Assert.Contains("MTU of eth0 is 1400, current value is 1450", output);

        _node.Ip(_ctr, "link", "set", "eth0", "mtu", "1400");
        _node.Exec(_ctr, "sh", "-c", "echo 128 > /proc/sys/net/core/somaxconn");
        (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), _ctr);
        Assert.NotEqual(0, exit);
        Assert.Contains("somaxconn is 512, current value is 128", output);

        // Promiscuous mode that nobody configured is a difference too (as the reference checks).
        _node.Exec(_ctr, "sh", "-c", "echo 512 > /proc/sys/net/core/somaxconn");
        _node.Ip(_ctr, "link", "set", "eth0", "promisc", "on");
        Assert.NotEqual(0, _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), _ctr).Exit);
    }

    [KernelFact]
    public void A_failed_Add_restores_what_it_changed_and_keeps_no_file()
    {
        string conf = Config("""  "sysctl":{"net.core.somaxconn":"512"},"mac":"c2:33:33:33:33:33","mtu":1400  """);
        string before = Sysctl("net/core/somaxconn");
        var failing = new TuningPlugin(_allowlist) { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        var (exit, output) = _node.Invoke(failing, "ADD", conf, _ctr);
        Assert.Equal(1, exit);
        Assert.Contains("forced failure", output);
        Assert.Contains("link/ether c2:11:11:11:11:11", Link());
        Assert.Contains("mtu 1500", Link());
        Assert.Equal(before, Sysctl("net/core/somaxconn"));
        Assert.False(File.Exists(SavedFile));
    }

    [KernelFact]
    public void Del_deletes_the_temporary_file_of_an_Add_killed_while_it_saved()
    {
        // Killed between writing the temporary file and renaming it: nothing was changed yet, the file is left.
        File.WriteAllText(SavedFile + ".tmp", """{"mtu":1500}""");
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", Config("\"mtu\":1400"), _ctr).Exit);
        Assert.False(File.Exists(SavedFile + ".tmp"));
        // And with the saved file there too (killed in a later ADD's save, after an earlier one completed).
        _node.Add(_plugin, Config("\"mtu\":1400"), _ctr);
        File.WriteAllText(SavedFile + ".tmp", """{"mtu":1400}""");
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", Config("\"mtu\":1400"), _ctr).Exit);
        Assert.False(File.Exists(SavedFile));
        Assert.False(File.Exists(SavedFile + ".tmp"));
        Assert.Contains("mtu 1500", Link());
    }

    [KernelFact]
    public void A_sysctl_the_kernel_does_not_have_fails_Add_before_any_change()
    {
        string conf = Config("""  "sysctl":{"net.core.somaxconn":"512","net.ipv4.conf.IFNAME.no_such_key":"1"}  """);
        string before = Sysctl("net/core/somaxconn");
        var (exit, output) = _node.Invoke(_plugin, "ADD", conf, _ctr);
        Assert.Equal(1, exit);
        Assert.Contains("no_such_key", output);
        Assert.Equal(before, Sysctl("net/core/somaxconn"));
        Assert.False(File.Exists(SavedFile));
    }

    [KernelFact]
    public void Add_needs_prevResult_and_refuses_keys_outside_net_before_changing_anything()
    {
        string noPrev = $$$"""{"cniVersion":"1.0.0","name":"tnet","type":"tuning","dataDir":"{{{_dataDir}}}","mtu":1400}""";
        var (exit, output) = _node.Invoke(_plugin, "ADD", noPrev, _ctr);
        Assert.Equal(1, exit);
        Assert.Contains("Required prevResult missing", output);

        (exit, output) = _node.Invoke(_plugin, "ADD", Config("""  "mtu":1400,"sysctl":{"net/../kernel/hostname":"x"}  """), _ctr);
        Assert.Equal(1, exit);
        Assert.Contains("invalid net sysctl key", output);
        Assert.Contains("mtu 1500", Link());
    }

    [KernelFact]
    public void The_allow_list_refuses_a_key_it_does_not_match()
    {
        File.WriteAllText(_allowlist, "^net\\.core\\.somaxconn$\n");
        var (exit, output) = _node.Invoke(_plugin, "ADD", Config("""  "sysctl":{"net.ipv4.conf.IFNAME.rp_filter":"2"}  """), _ctr);
        Assert.Equal(1, exit);
        Assert.Contains("is not allowed", output);
        Assert.Equal(0, _node.Invoke(_plugin, "ADD", Config("""  "sysctl":{"net.core.somaxconn":"512"}  """), _ctr).Exit);
    }

    [KernelFact]
    public void Del_succeeds_after_the_namespace_is_gone_and_removes_the_file()
    {
        string conf = Config("""  "mtu":1400  """);
        _node.Add(_plugin, conf, _ctr);
        string path = BridgeNode.PathOf(_ctr);
        _node.DeleteNamespace(_ctr);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, path).Exit);
        Assert.False(File.Exists(SavedFile));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null).Exit);
    }

    [KernelFact]
    public void The_MAC_capability_and_CNI_ARGS_MAC_reach_the_link()
    {
        string conf = Config("""  "capabilities":{"mac":true},"runtimeConfig":{"mac":"c2:44:44:44:44:44"}  """);
        var result = _node.Add(_plugin, conf, _ctr, args: "IgnoreUnknown=1;MAC=c2:55:55:55:55:55");
        Assert.Equal("c2:44:44:44:44:44", (string?)result["interfaces"]![0]!["mac"]);
        Assert.Contains("link/ether c2:44:44:44:44:44", Link());
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, _ctr).Exit);
        Assert.Contains("link/ether c2:11:11:11:11:11", Link());
    }
}
