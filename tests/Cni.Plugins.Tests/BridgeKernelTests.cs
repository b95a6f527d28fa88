using System.Text.Json.Nodes;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Tests;

/// <summary>The bridge plugin against the kernel, inside throwaway namespaces (never the root namespace).</summary>
public sealed class BridgeKernelTests : IDisposable
{
    private readonly BridgeNode _node = new();
    private readonly BridgePlugin _plugin = new();

    public void Dispose() => _node.Dispose();

    [KernelFact]
    public void Add_creates_bridge_veth_and_addresses_and_Del_removes_everything()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"isGateway":true}""");
        var result = _node.Add(_plugin, conf, c1);

        Assert.Equal(_node.Bridge, (string?)result["interfaces"]![0]!["name"]);
        Assert.Equal(new Attachment("ctr1", "eth0").HostInterfaceName, (string?)result["interfaces"]![1]!["name"]);
        Assert.Equal(BridgeNode.PathOf(c1), (string?)result["interfaces"]![2]!["sandbox"]);
        Assert.Equal(2, (int?)result["ips"]![0]!["interface"]);
        Assert.Equal("10.66.0.1", (string?)result["ips"]![0]!["gateway"]);
        Assert.Contains("inet 10.66.0.1/24", _node.Ip(_node.Node, "addr", "show", "dev", _node.Bridge));
        Assert.Contains("inet 10.66.0.2/24", _node.Ip(c1, "addr", "show", "dev", "eth0"));
        Assert.Contains("state UP", _node.Ip(c1, "link", "show", "dev", "eth0"));
        Assert.True(_node.Ping(c1, "10.66.0.1"));

        var (exit, output) = _node.Invoke(_plugin, "DEL", conf, c1);
        Assert.True(exit == 0, output);
        Assert.Equal(0, _node.Veths());
        Assert.Equal(0, _node.Leases());
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
    }

    [KernelFact]
    public void Del_succeeds_after_netns_is_gone_and_without_prevResult_and_twice()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config();
        _node.Add(_plugin, conf, c1);
        string path = BridgeNode.PathOf(c1);
        _node.DeleteNamespace(c1);

        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, path).Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, path).Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null).Exit);
        Assert.Equal(0, _node.Leases());
        Assert.Equal(0, _node.Veths());
    }

    [KernelFact]
    public void Del_without_netns_removes_the_host_veth_by_its_tag()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config();
        _node.Add(_plugin, conf, c1);
        Assert.Equal(1, _node.Veths());

        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null).Exit);
        Assert.Equal(0, _node.Veths());
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Add_failure_after_the_veth_exists_rolls_back_veth_and_reservation()
    {
        string c1 = _node.NewNamespace();
        var failing = new BridgePlugin { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        var (exit, output) = _node.Invoke(failing, "ADD", _node.Config("""{"isGateway":true}"""), c1);

        Assert.Equal(1, exit);
        Assert.Contains("forced failure", output);
        Assert.Equal(0, _node.Veths());
        Assert.Equal(0, _node.Leases());
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
    }

    [KernelFact]
    public void Add_with_an_IPAM_plugin_missing_from_CNI_PATH_fails_before_changing_anything()
    {
        string c1 = _node.NewNamespace();
        string linksBefore = _node.Ip(_node.Node, "-o", "link");
        var config = _node.Config("""{"isGateway":true,"ipMasq":true,"ipam":{"type":"no-such-ipam"}}""");
        var (exit, output) = _node.Invoke(_plugin, "ADD", config, c1);
        Assert.Equal(1, exit);
        Assert.Contains("failed to find plugin", output);
        Assert.Contains("no-such-ipam", output);
        Assert.Contains("\"code\": 7", output);
        Assert.Equal(linksBefore, _node.Ip(_node.Node, "-o", "link"));
        Assert.DoesNotContain(_node.Bridge, _node.Ip(_node.Node, "-o", "link"));
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
    }

    [KernelFact]
    public void A_failed_add_deletes_the_bridge_it_created_but_not_a_bridge_other_containers_use()
    {
        var failing = new BridgePlugin { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        Assert.Equal(1, _node.Invoke(failing, "ADD", _node.Config("""{"isGateway":true}"""), c1).Exit);
        Assert.DoesNotContain(_node.Bridge, _node.Ip(_node.Node, "-o", "link"));

        _node.Add(_plugin, _node.Config("""{"isGateway":true}"""), c1);
        Assert.Equal(1, _node.Invoke(failing, "ADD", _node.Config("""{"isGateway":true}"""), c2, containerId: "ctr2").Exit);
        Assert.Contains(_node.Bridge, _node.Ip(_node.Node, "-o", "link", "show", "type", "bridge"));
        Assert.Equal(1, _node.Veths());
        Assert.Equal(1, _node.Leases());
    }

    [KernelFact]
    public void Add_fails_when_the_bridge_name_is_taken_by_something_else()
    {
        string c1 = _node.NewNamespace();
        _node.Ip(_node.Node, "link", "add", _node.Bridge, "type", "veth", "peer", "name", "notabridge");
        var (exit, output) = _node.Invoke(_plugin, "ADD", _node.Config(), c1);
        Assert.Equal(1, exit);
        Assert.Contains("already exists but is not a bridge", output);
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Concurrent_adds_that_both_find_no_bridge_both_succeed()
    {
        var containers = Enumerable.Range(0, 4).Select(_ => _node.NewNamespace()).ToArray();
        string conf = _node.Config("""{"isGateway":true}""");
        var outcomes = new (int Exit, string Output)[containers.Length];
        Parallel.For(0, containers.Length, i =>
            outcomes[i] = _node.Invoke(new BridgePlugin(), "ADD", conf, containers[i], containerId: $"ctr{i}"));

        Assert.All(outcomes, o => Assert.True(o.Exit == 0, o.Output));
        Assert.Equal(containers.Length, _node.Veths());
        Assert.True(_node.Ping(containers[0], "10.66.0.1"));
    }

    [KernelFact]
    public void Bridge_mac_does_not_change_as_ports_come_and_go()
    {
        string conf = _node.Config("""{"isGateway":true}""");
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        var first = _node.Add(_plugin, conf, c1, containerId: "a");
        string mac = (string)first["interfaces"]![0]!["mac"]!;
        _node.Add(_plugin, conf, c2, containerId: "b");
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c1, containerId: "a").Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c2, containerId: "b").Exit);
        Assert.Contains("link/ether " + mac, _node.Ip(_node.Node, "link", "show", "dev", _node.Bridge));
    }

    [KernelFact]
    public void Check_passes_then_fails_when_the_host_veth_leaves_the_bridge()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"isGateway":true,"isDefaultGateway":true}""");
        var result = _node.Add(_plugin, conf, c1);
        string withPrev = BridgeNode.WithPrevResult(conf, result);
        var ok = _node.Invoke(_plugin, "CHECK", withPrev, c1);
        Assert.True(ok.Exit == 0, ok.Output);

        _node.Ip(_node.Node, "link", "set", (string)result["interfaces"]![1]!["name"]!, "nomaster");
        var (exit, output) = _node.Invoke(_plugin, "CHECK", withPrev, c1);
        Assert.Equal(1, exit);
        Assert.Contains("not attached to bridge", output);
    }

    [KernelFact]
    public void Check_fails_when_the_default_route_is_removed()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"isDefaultGateway":true}""");
        var result = _node.Add(_plugin, conf, c1);
        _node.Ip(c1, "route", "del", "default");
        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1);
        Assert.Equal(1, exit);
        Assert.Contains("Failed to match route 0.0.0.0/0", output);
    }

    [KernelFact]
    public void Mac_capability_mtu_and_hairpin_are_applied()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"mtu":1400,"hairpinMode":true,"runtimeConfig":{"mac":"0a:58:0a:42:00:99"}}""");
        var result = _node.Add(_plugin, conf, c1);
        Assert.Equal("0a:58:0a:42:00:99", (string?)result["interfaces"]![2]!["mac"]);
        string inside = _node.Ip(c1, "link", "show", "dev", "eth0");
        Assert.Contains("link/ether 0a:58:0a:42:00:99", inside);
        Assert.Contains("mtu 1400", inside);
        string hostEnd = _node.Ip(_node.Node, "-d", "link", "show", "dev", (string)result["interfaces"]![1]!["name"]!);
        Assert.Contains("mtu 1400", hostEnd);
        Assert.Contains("hairpin on", hostEnd);
    }

    [KernelFact]
    public void Ipv4_only_container_gets_arp_notify_and_keeps_the_kernels_ipv6_defaults()
    {
        string c1 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config(), c1);
        Assert.Equal("1", _node.Exec(c1, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify").Trim());
        Assert.Equal(_node.Exec(c1, "cat", "/proc/sys/net/ipv6/conf/default/accept_dad").Trim(),
            _node.Exec(c1, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad").Trim());
        Assert.Equal(_node.Exec(c1, "cat", "/proc/sys/net/ipv6/conf/default/ndisc_notify").Trim(),
            _node.Exec(c1, "cat", "/proc/sys/net/ipv6/conf/eth0/ndisc_notify").Trim());
    }

    [KernelFact]
    public void Enabledad_leaves_dad_on_and_default_turns_it_off()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config(subnet: "fd00:66::/64"), c1, containerId: "a");
        _node.Add(_plugin, _node.Config("""{"enabledad":true}""", subnet: "fd00:66::/64"), c2, containerId: "b");
        Assert.Equal("0", _node.Exec(c1, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad").Trim());
        Assert.Contains("nodad", _node.Ip(c1, "-6", "addr", "show", "dev", "eth0", "scope", "global"));
        Assert.Equal("1", _node.Exec(c2, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad").Trim());
        Assert.DoesNotContain("nodad", _node.Ip(c2, "-6", "addr", "show", "dev", "eth0", "scope", "global"));
    }

    [KernelFact]
    public void Without_ipam_the_interface_is_up_and_disableContainerInterface_keeps_it_down()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        var r = _node.Add(_plugin, _node.Config(ipam: false), c1, containerId: "a");
        Assert.Null(r["ips"]);
        Assert.Contains("state UP", _node.Ip(c1, "link", "show", "dev", "eth0"));
        _node.Add(_plugin, _node.Config("""{"disableContainerInterface":true}""", ipam: false), c2, containerId: "b");
        Assert.DoesNotContain(",UP", _node.Ip(c2, "link", "show", "dev", "eth0"));
    }

    [KernelFact]
    public void A_different_bridge_address_fails_without_forceAddress_and_is_replaced_with_it()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        _node.Add(_plugin, _node.Config("""{"isGateway":true}""", subnet: "10.66.1.0/24"), c1, containerId: "a");
        var (exit, output) = _node.Invoke(_plugin, "ADD", _node.Config("""{"isGateway":true}""", subnet: "10.66.2.0/24"), c2, containerId: "b");
        Assert.Equal(1, exit);
        Assert.Contains("already has an IP address different from 10.66.2.1/24", output);
        Assert.Equal(1, _node.Veths());

        _node.Add(_plugin, _node.Config("""{"isGateway":true,"forceAddress":true}""", subnet: "10.66.2.0/24"), c2, containerId: "b");
        string addrs = _node.Ip(_node.Node, "addr", "show", "dev", _node.Bridge);
        Assert.Contains("10.66.2.1/24", addrs);
        Assert.DoesNotContain("10.66.1.1/24", addrs);
    }

    [KernelFact]
    public void Add_into_a_missing_namespace_fails_and_leaves_nothing()
    {
        var (exit, output) = _node.Invoke(_plugin, "ADD", _node.Config(), "/var/run/netns/cnitest-does-not-exist");
        Assert.Equal(1, exit);
        Assert.Contains("failed to open netns", output);
        Assert.Equal(0, _node.Leases());
    }

    [KernelFact]
    public void Gc_removes_veths_of_attachments_that_are_no_longer_valid()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        string conf = _node.Config();
        _node.Add(_plugin, conf, c1, containerId: "keep");
        _node.Add(_plugin, conf, c2, containerId: "gone");
        var gc = JsonNode.Parse(_node.Config(version: "1.1.0"))!.AsObject();
        gc["cni.dev/valid-attachments"] = JsonNode.Parse("""[{"containerID":"keep","ifname":"eth0"}]""");
        var (exit, output) = _node.Invoke(_plugin, "GC", gc.ToJsonString(), container: null);
        // The reference host-local (1.1.1) does not speak 1.1.0; the sweep of veths runs anyway.
        Assert.True(exit == 0 || output.Contains("collect IPAM reservations"), output);
        Assert.Equal(1, _node.Veths());
        Assert.Contains("eth0", _node.Ip(c1, "link"));
        Assert.DoesNotContain("eth0", _node.Ip(c2, "link"));
    }
}
