using System.Text.Json.Nodes;
using Cni.Linux.Namespaces;
using Cni.Plugins.Macvlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Macvlan;

/// <summary>The macvlan plugin against the kernel, inside throwaway namespaces (never the root namespace).</summary>
public sealed class MacvlanKernelTests : IDisposable
{
    private readonly MacvlanNode _node = new();
    private readonly MacvlanPlugin _plugin = new();

    public void Dispose() => _node.Dispose();

    [KernelFact]
    public void Add_creates_a_bridge_macvlan_on_the_master_in_the_container_and_Del_removes_everything()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"master":"eth0"}""");
        var result = _node.Add(_plugin, conf, c1);

        var iface = result["interfaces"]!.AsArray().Single()!;
        Assert.Equal("eth0", (string?)iface["name"]);
        Assert.Equal(NetNs.PathOfNamed(c1), (string?)iface["sandbox"]);
        Assert.Contains($"link/ether {(string?)iface["mac"]}", _node.Ip(c1, "link", "show", "dev", "eth0"));
        Assert.Equal(0, (int?)result["ips"]![0]!["interface"]);
        Assert.Equal("10.67.0.10/24", (string?)result["ips"]![0]!["address"]);

        string details = _node.Ip(c1, "-d", "link", "show", "dev", "eth0");
        Assert.Contains("macvlan mode bridge", details);
        Assert.Contains("state UP", details);
        Assert.Contains("inet 10.67.0.10/24", _node.Ip(c1, "addr", "show", "dev", "eth0"));
        Assert.Contains("default via 10.67.0.1 dev eth0", _node.Ip(c1, "route"));
        Assert.Equal(0, _node.Macvlans(_node.Node));
        Assert.True(_node.Ping(c1, MacvlanNode.SwitchAddress));

        var (exit, output) = _node.Invoke(_plugin, "DEL", conf, c1);
        Assert.True(exit == 0, output);
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Add_takes_the_master_from_the_default_route_when_none_is_given()
    {
        string c1 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config(), c1, ifName: "net1");
        Assert.Contains("net1@if", _node.Ip(c1, "link", "show", "dev", "net1"));
        Assert.True(_node.Ping(c1, MacvlanNode.SwitchAddress));
    }

    [KernelFact]
    public void Node_cannot_reach_the_container_through_the_master_but_the_switch_can()
    {
        string c1 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config(), c1);
        Assert.True(_node.Ping(_node.Switch, "10.67.0.10"));
        Assert.False(_node.Ping(_node.Node, "10.67.0.10"));
    }

    [KernelFact]
    public void Add_announces_the_address_so_the_switch_learns_the_MAC_before_any_traffic()
    {
        string c1 = _node.NewNamespace();
        var result = _node.Add(_plugin, _node.Config(), c1);
        string mac = (string)result["interfaces"]![0]!["mac"]!;
        bool learnt = false;
        for (int i = 0; i < 20 && !learnt; i++)
        {
            learnt = _node.Ip(_node.Switch, "neigh", "show", "10.67.0.10").Contains("lladdr " + mac);
            if (!learnt) Thread.Sleep(100);
        }
        Assert.True(learnt, "the switch has no neighbour entry for the container's address");
    }

    [KernelFact]
    public void Create_then_move_path_gives_the_same_interface()
    {
        string c1 = _node.NewNamespace();
        var plugin = new MacvlanPlugin { ForceCreateThenMove = true };
        string conf = _node.Config("""{"mode":"private"}""");
        var result = _node.Add(plugin, conf, c1);
        Assert.Contains("macvlan mode private", _node.Ip(c1, "-d", "link", "show", "dev", "eth0"));
        Assert.Equal(0, _node.Macvlans(_node.Node));
        Assert.Equal(0, _node.Invoke(plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1).Exit);
        Assert.Equal(0, _node.Invoke(plugin, "DEL", conf, c1).Exit);
        Assert.Equal(0, _node.Macvlans(c1));
    }

    [KernelFact]
    public void Add_without_ipam_gives_an_up_interface_without_addresses()
    {
        string c1 = _node.NewNamespace();
        var result = _node.Add(_plugin, _node.Config(ipam: false), c1);
        Assert.Null(result["ips"]);
        Assert.Contains("state UP", _node.Ip(c1, "link", "show", "dev", "eth0"));
        Assert.DoesNotContain("inet ", _node.Ip(c1, "addr", "show", "dev", "eth0", "scope", "global"));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", _node.Config(ipam: false), c1).Exit);
        Assert.Equal(0, _node.Macvlans(c1));
    }

    [KernelFact]
    public void Mac_capability_wins_over_CNI_ARGS_and_config()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"mac":"02:67:00:00:00:01","runtimeConfig":{"mac":"02:67:00:00:00:03"}}""");
        var result = _node.Add(_plugin, conf, c1, args: "IgnoreUnknown=1;MAC=02:67:00:00:00:02");
        Assert.Equal("02:67:00:00:00:03", (string?)result["interfaces"]![0]!["mac"]);
        Assert.Contains("link/ether 02:67:00:00:00:03", _node.Ip(c1, "link", "show", "dev", "eth0"));
    }

    [KernelFact]
    public void Mtu_below_the_masters_is_applied()
    {
        string c1 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config("""{"mtu":1280}"""), c1);
        Assert.Contains("mtu 1280", _node.Ip(c1, "link", "show", "dev", "eth0"));
    }

    [KernelFact]
    public void LinkInContainer_creates_the_macvlan_on_a_master_inside_the_container()
    {
        string c1 = _node.NewNamespace();
        _node.Ip(c1, "link", "add", "ceth0", "type", "veth", "peer", "name", "swp1", "netns", _node.Switch);
        string conf = _node.Config("""{"master":"ceth0","linkInContainer":true}""", ipam: false);
        var result = _node.Add(_plugin, conf, c1);
        Assert.Contains("eth0@ceth0", _node.Ip(c1, "link", "show", "dev", "eth0"));
        Assert.Equal(0, _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1).Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c1).Exit);
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Contains("ceth0", _node.Ip(c1, "link"));
    }

    [KernelTheory]
    [InlineData("""{"master":"nosuch0"}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"master":"lo"}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"mode":"shared"}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"mtu":9000}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"mtu":-1}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"mac":"01:00:5e:00:00:01"}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"master":"eth0/x"}""", ErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"mode":7}""", ErrorCode.DecodingFailure)]
    public void Bad_config_is_a_CNI_error_and_leaves_nothing(string extra, int code)
    {
        string c1 = _node.NewNamespace();
        var call = _node.Invoke(_plugin, "ADD", _node.Config(extra), c1);
        Assert.Equal(code, MacvlanNode.ErrorCode(call));
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Equal(0, _node.Macvlans(_node.Node));
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Missing_default_route_without_master_is_a_config_error()
    {
        _node.Ip(_node.Node, "route", "del", "default");
        string c1 = _node.NewNamespace();
        var call = _node.Invoke(_plugin, "ADD", _node.Config(), c1);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, MacvlanNode.ErrorCode(call));
        Assert.Contains("default route", call.Output);
    }

    [KernelFact]
    public void Add_failure_after_setup_rolls_back_link_and_reservation()
    {
        string c1 = _node.NewNamespace();
        var failing = new MacvlanPlugin { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        var call = _node.Invoke(failing, "ADD", _node.Config(), c1);
        Assert.Equal(ErrorCode.FirstPluginCode, MacvlanNode.ErrorCode(call));
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Add_fails_cleanly_when_the_container_already_has_the_interface_name()
    {
        string c1 = _node.NewNamespace();
        _node.Ip(c1, "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
        var call = _node.Invoke(_plugin, "ADD", _node.Config(), c1);
        Assert.Equal(ErrorCode.FirstPluginCode, MacvlanNode.ErrorCode(call));
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Del_succeeds_after_netns_is_gone_and_releases_the_address()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config();
        _node.Add(_plugin, conf, c1);
        string path = NetNs.PathOfNamed(c1);
        _node.DeleteNamespace(c1);

        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, path).Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, path).Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null).Exit);
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Del_removes_a_temporary_macvlan_left_by_an_interrupted_add()
    {
        string c1 = _node.NewNamespace();
        string temp = MacvlanLink.TemporaryName(new Attachment("ctr1", "eth0"));
        _node.Ip(_node.Node, "link", "add", temp, "link", "eth0", "netns", c1, "type", "macvlan");
        _node.Ip(_node.Node, "link", "add", temp, "link", "eth0", "type", "macvlan");

        Assert.Equal(0, _node.Invoke(_plugin, "DEL", _node.Config(), c1).Exit);
        Assert.Equal(0, _node.Macvlans(c1));
        Assert.Equal(0, _node.Macvlans(_node.Node));
    }

    [KernelFact]
    public void Del_leaves_a_non_macvlan_interface_of_the_same_name_alone()
    {
        string c1 = _node.NewNamespace();
        _node.Ip(c1, "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", _node.Config(), c1).Exit);
        Assert.Contains("eth0@other0", _node.Ip(c1, "link"));
    }

    [KernelFact]
    public void Check_passes_then_fails_on_mode_master_mac_and_address_differences()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config();
        var result = _node.Add(_plugin, conf, c1);
        string withPrev = BridgeNode.WithPrevResult(conf, result);
        Assert.Equal(0, _node.Invoke(_plugin, "CHECK", withPrev, c1).Exit);

        string privateMode = BridgeNode.WithPrevResult(_node.Config("""{"mode":"private"}"""), result);
        var call = _node.Invoke(_plugin, "CHECK", privateMode, c1);
        Assert.Equal(ErrorCode.FirstPluginCode, MacvlanNode.ErrorCode(call));
        Assert.Contains("mode", call.Output);

        _node.Ip(_node.Node, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p");
        string otherMaster = BridgeNode.WithPrevResult(_node.Config("""{"master":"eth1"}"""), result);
        call = _node.Invoke(_plugin, "CHECK", otherMaster, c1);
        Assert.Contains("not a macvlan of master eth1", call.Output);

        var wrongMac = result.DeepClone();
        wrongMac["interfaces"]![0]!["mac"] = "02:00:00:00:00:99";
        call = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, wrongMac), c1);
        Assert.Contains("Mac", call.Output);

        _node.Ip(c1, "addr", "flush", "dev", "eth0", "scope", "global");
        call = _node.Invoke(_plugin, "CHECK", withPrev, c1);
        Assert.Equal(ErrorCode.FirstPluginCode, MacvlanNode.ErrorCode(call));
        Assert.Contains("10.67.0.10/24", call.Output);
    }

    [KernelFact]
    public void Check_without_prevResult_is_a_config_error()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config();
        _node.Add(_plugin, conf, c1);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, MacvlanNode.ErrorCode(_node.Invoke(_plugin, "CHECK", conf, c1)));
    }
}

/// <summary>A theory with the same skip rules as <see cref="KernelFactAttribute"/>.</summary>
public sealed class KernelTheoryAttribute : TheoryAttribute
{
    public KernelTheoryAttribute()
    {
        Skip = new KernelFactAttribute().Skip;
    }
}
