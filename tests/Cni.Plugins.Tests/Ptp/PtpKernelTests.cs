using System.Text.Json.Nodes;
using Cni.Plugins.Ptp;
using Cni.Spec;

namespace Cni.Plugins.Tests.Ptp;

/// <summary>The ptp plugin against the kernel, inside throwaway namespaces (never the root namespace); IPAM is the reference host-local, executed.</summary>
public sealed class PtpKernelTests : IDisposable
{
    private readonly BridgeNode _node = new();
    private readonly PtpPlugin _plugin = new();

    public void Dispose() => _node.Dispose();

    private string Config(string extra = "{}", string ranges = """[[{"subnet":"10.77.0.0/24"}]]""", string routes = """[{"dst":"0.0.0.0/0"}]""")
    {
        var conf = JsonNode.Parse($$$"""
            {"cniVersion":"1.0.0","name":"ktest","type":"ptp",
             "ipam":{"type":"host-local","dataDir":"{{{_node.IpamDir}}}","ranges":{{{ranges}}},"routes":{{{routes}}}}}
            """)!.AsObject();
        foreach (var kv in JsonNode.Parse(extra)!.AsObject().ToList())
            conf[kv.Key] = kv.Value?.DeepClone();
        return conf.ToJsonString();
    }

    private static string HostVeth(string id = "ctr1", string ifName = "eth0") => new Attachment(id, ifName).HostInterfaceName;

    [KernelFact]
    public void Add_builds_point_to_point_routing_and_Del_removes_everything()
    {
        string c1 = _node.NewNamespace();
        string conf = Config("""{"mtu":1400}""");
        var result = _node.Add(_plugin, conf, c1);

        // Result: host veth, then the container interface with its sandbox; ips on interface 1.
        Assert.Equal(HostVeth(), (string?)result["interfaces"]![0]!["name"]);
        Assert.Null(result["interfaces"]![0]!["sandbox"]);
        Assert.Equal("eth0", (string?)result["interfaces"]![1]!["name"]);
        Assert.Equal(BridgeNode.PathOf(c1), (string?)result["interfaces"]![1]!["sandbox"]);
        Assert.Equal(1, (int?)result["ips"]![0]!["interface"]);
        Assert.Equal("10.77.0.2/24", (string?)result["ips"]![0]!["address"]);
        Assert.Equal("10.77.0.1", (string?)result["ips"]![0]!["gateway"]);
        Assert.Equal("0.0.0.0/0", (string?)result["routes"]![0]!["dst"]);

        // Container: the address without its subnet route; the gateway on-link; the subnet and default through it.
        Assert.Contains("inet 10.77.0.2/24", _node.Ip(c1, "addr", "show", "dev", "eth0"));
        Assert.Contains("mtu 1400", _node.Ip(c1, "link", "show", "dev", "eth0"));
        string routes = _node.Ip(c1, "route", "show");
        Assert.Contains("10.77.0.1 dev eth0 scope link src 10.77.0.2", routes);
        Assert.Contains("10.77.0.0/24 via 10.77.0.1 dev eth0 src 10.77.0.2", routes);
        Assert.Contains("default via 10.77.0.1 dev eth0", routes);
        Assert.DoesNotContain("10.77.0.0/24 dev eth0", routes);

        // Host: the gateway /32 on the veth, a host route to the container, forwarding on.
        Assert.Contains("inet 10.77.0.1/32", _node.Ip(_node.Node, "addr", "show", "dev", HostVeth()));
        Assert.Contains("mtu 1400", _node.Ip(_node.Node, "link", "show", "dev", HostVeth()));
        Assert.Contains($"10.77.0.2 dev {HostVeth()} scope host", _node.Ip(_node.Node, "route", "show"));
        Assert.Equal("1", _node.Exec(_node.Node, "cat", "/proc/sys/net/ipv4/ip_forward").Trim());
        Assert.True(_node.Ping(c1, "10.77.0.1"));
        Assert.True(_node.Ping(_node.Node, "10.77.0.2"));

        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1);
        Assert.True(exit == 0, output);

        (exit, output) = _node.Invoke(_plugin, "DEL", conf, c1);
        Assert.True(exit == 0, output);
        Assert.Equal(0, _node.Veths());
        Assert.Equal(0, _node.Leases());
        Assert.DoesNotContain("10.77.0.2", _node.Ip(_node.Node, "route", "show"));
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c1).Exit);
    }

    [KernelFact]
    public void Two_containers_on_one_subnet_reach_each_other_through_the_host()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        string conf = Config();
        _node.Add(_plugin, conf, c1, containerId: "a");
        _node.Add(_plugin, conf, c2, containerId: "b");
        Assert.True(_node.Ping(c1, "10.77.0.3"));
        Assert.True(_node.Ping(c2, "10.77.0.2"));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c1, containerId: "a").Exit);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c2, containerId: "b").Exit);
        Assert.Equal(0, _node.Veths());
    }

    [KernelFact]
    public void Dual_stack_gives_each_family_its_point_to_point_routes()
    {
        string c1 = _node.NewNamespace();
        string conf = Config("""{"dns":{"nameservers":["fd00:77::1"],"search":["svc.example"]}}""",
            ranges: """[[{"subnet":"10.77.0.0/24"}],[{"subnet":"fd00:77::/64"}]]""", routes: """[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]""");
        var result = _node.Add(_plugin, conf, c1);
        Assert.Equal(2, result["ips"]!.AsArray().Count);
        Assert.Equal("fd00:77::1", (string?)result["dns"]!["nameservers"]![0]);
        Assert.Equal("svc.example", (string?)result["dns"]!["search"]![0]);

        string routes6 = _node.Ip(c1, "-6", "route", "show");
        Assert.Contains("fd00:77::1 dev eth0", routes6);
        Assert.Contains("fd00:77::/64 via fd00:77::1 dev eth0", routes6);
        Assert.Contains("default via fd00:77::1 dev eth0", routes6);
        Assert.DoesNotContain("fd00:77::/64 dev eth0", routes6);
        Assert.Contains("inet6 fd00:77::1/128", _node.Ip(_node.Node, "addr", "show", "dev", HostVeth()));
        Assert.Contains($"fd00:77::2 dev {HostVeth()}", _node.Ip(_node.Node, "-6", "route", "show"));
        Assert.Equal("1", _node.Exec(_node.Node, "cat", "/proc/sys/net/ipv6/conf/all/forwarding").Trim());
        Assert.True(_node.Ping(c1, "fd00:77::1"));
        Assert.True(_node.Ping(_node.Node, "fd00:77::2"));

        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1);
        Assert.True(exit == 0, output);
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c1).Exit);
        Assert.Equal(0, _node.Veths());
    }

    [KernelFact]
    public void IpMasq_adds_tagged_masquerade_elements_that_Del_and_Gc_remove()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        string conf = Config("""{"ipMasq":true}""");
        var result = _node.Add(_plugin, conf, c1, containerId: "a");
        _node.Add(_plugin, conf, c2, containerId: "b");
        string table = _node.Exec(_node.Node, "nft", "list", "set", "inet", "sharpcni", "masq4");
        Assert.Contains("10.77.0.2", table);
        Assert.Contains("10.77.0.3", table);
        Assert.Equal(0, _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1, containerId: "a").Exit);

        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null, containerId: "a").Exit);
        Assert.DoesNotContain("10.77.0.2 ", Live(_node.Exec(_node.Node, "nft", "list", "set", "inet", "sharpcni", "masq4")));

        // GC with "a" and "b" both invalid: "b"'s element goes too.
        string gc = JsonNode.Parse(conf)!.AsObject().Also(o => { o["cniVersion"] = "1.1.0"; o["cni.dev/valid-attachments"] = new JsonArray(); }).ToJsonString();
        var (exit, output) = _node.Invoke(_plugin, "GC", gc, container: null);
        // The reference host-local (1.1.1) does not speak 1.1.0; the masquerade collection runs anyway.
        Assert.True(exit == 0 || output.Contains("collect IPAM reservations"), output);
        Assert.DoesNotContain("10.77.0.3 ", Live(_node.Exec(_node.Node, "nft", "list", "set", "inet", "sharpcni", "masq4")));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, c2, containerId: "b").Exit);
    }

    /// <summary>An `nft list set` output; an element DEL made expire is gone from it within a jiffy.</summary>
    private static string Live(string listing) => listing;

    [KernelFact]
    public void Del_succeeds_after_netns_is_gone_and_without_prevResult_and_twice()
    {
        string c1 = _node.NewNamespace();
        string conf = Config();
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
    public void Add_failure_after_setup_rolls_back_veth_routes_and_reservation()
    {
        string c1 = _node.NewNamespace();
        var failing = new PtpPlugin { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        var (exit, output) = _node.Invoke(failing, "ADD", Config("""{"ipMasq":true}"""), c1);
        Assert.Equal(1, exit);
        Assert.Contains("forced failure", output);
        Assert.Equal(0, _node.Veths());
        Assert.Equal(0, _node.Leases());
        Assert.DoesNotContain("10.77.0.2", _node.Ip(_node.Node, "route", "show"));
        Assert.DoesNotContain("eth0", _node.Ip(c1, "link"));
    }

    [KernelFact]
    public void Check_fails_when_a_point_to_point_route_is_gone()
    {
        string c1 = _node.NewNamespace();
        string conf = Config();
        var result = _node.Add(_plugin, conf, c1);
        _node.Ip(_node.Node, "route", "del", "10.77.0.2/32");
        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1);
        Assert.NotEqual(0, exit);
        Assert.Contains("host route 10.77.0.2/32", output);

        _node.Ip(_node.Node, "route", "add", "10.77.0.2/32", "dev", HostVeth(), "scope", "host");
        Assert.Equal(0, _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1).Exit);
        _node.Ip(c1, "route", "del", "10.77.0.0/24");
        (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, result), c1);
        Assert.NotEqual(0, exit);
        Assert.Contains("10.77.0.0/24 via 10.77.0.1", output);
    }

    [KernelFact]
    public void An_IPAM_result_without_a_gateway_is_refused_before_any_link_is_made()
    {
        string c1 = _node.NewNamespace();
        // static IPAM (the reference's, executed) with the ips capability: addresses without gateways.
        string conf = """{"cniVersion":"1.0.0","name":"ktest","type":"ptp","ipam":{"type":"static"},"runtimeConfig":{"ips":["10.77.0.9/24"]}}""";
        var (exit, output) = _node.Invoke(_plugin, "ADD", conf, c1);
        Assert.Equal(1, exit);
        Assert.Contains("needs a gateway", output);
        Assert.Equal(0, _node.Veths());
    }
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject o, Action<JsonObject> change)
    {
        change(o);
        return o;
    }
}
