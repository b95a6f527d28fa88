using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cni.Firewall;
using Cni.Plugins.Portmap;
using Cni.Spec;

namespace Cni.Plugins.Tests.Portmap;

/// <summary>The portmap plugin's logic through the dispatcher, with a recording fake of the node side: no root.</summary>
public class PortmapPluginTests
{
    private const string PrevResult = """
        {"cniVersion":"1.0.0",
         "interfaces":[{"name":"cni0"},{"name":"veth1234"},{"name":"eth0","sandbox":"/var/run/netns/x"}],
         "ips":[{"interface":2,"address":"10.88.0.5/16","gateway":"10.88.0.1"},
                {"interface":2,"address":"fd00:88::5/64"},
                {"interface":0,"address":"10.88.0.1/16"}],
         "dns":{}}
        """;

    private sealed class FakeNode : IPortMappingFirewall
    {
        public List<string> Calls { get; } = [];
        public Exception? FailRouteLocalnet { get; set; }
        public IReadOnlyList<string> CheckProblems { get; set; } = [];
        public IReadOnlyList<PortMappingElement> Removed { get; set; } = [];
        public List<PublishedPort> Forgotten { get; } = [];
        public PortMappingOptions? Options { get; private set; }
        public IReadOnlyList<IPPrefix>? Sources { get; private set; }

        public IReadOnlyList<PortMappingElement> Add(Cni.Firewall.Attachment attachment, string network, IReadOnlyList<PortMapping> mappings, IPAddress? v4, IPAddress? v6, IReadOnlyList<IPPrefix> sources, PortMappingOptions options)
        {
            Calls.Add($"add {attachment} {network} {string.Join(",", mappings)} {v4} {v6}");
            Options = options;
            Sources = sources;
            return PortMappingRules.PlanElements(mappings, v4, v6, options);
        }

        public IReadOnlyList<PortMappingElement> Remove(Cni.Firewall.Attachment attachment)
        {
            Calls.Add($"remove {attachment}");
            return Removed;
        }

        public IReadOnlyList<string> Check(Cni.Firewall.Attachment attachment, IReadOnlyList<PortMapping> mappings, IPAddress? v4, IPAddress? v6, PortMappingOptions options)
        {
            Calls.Add($"check {attachment} {v4} {v6}");
            return CheckProblems;
        }

        public void Gc(string network, IEnumerable<Cni.Firewall.Attachment> valid) => Calls.Add($"gc {network} {string.Join(",", valid)}");

        public void EnableRouteLocalnet(IPAddress containerV4, string? fallbackInterface)
        {
            Calls.Add($"route_localnet {containerV4} {fallbackInterface}");
            if (FailRouteLocalnet is not null) throw FailRouteLocalnet;
        }

        public void ForgetUdpFlows(IReadOnlyList<PublishedPort> ports)
        {
            Calls.Add("conntrack");
            Forgotten.AddRange(ports);
        }

        public void Dispose() { }
    }

    private static string Config(string portMappings = "[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"}]", string extra = "", bool prev = true, string version = "1.0.0") =>
        $$"""
        {"cniVersion":"{{version}}","name":"mynet","type":"portmap","capabilities":{"portMappings":true}{{extra}},
         "runtimeConfig":{"portMappings":{{portMappings}}}{{(prev ? ",\"prevResult\":" + PrevResult : "")}}}
        """;

    private static (int Exit, string Output) Run(FakeNode node, string command, string config, string containerId = "ctr1")
    {
        var plugin = new PortmapPlugin(() => node, TextWriter.Null);
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = containerId,
            ["CNI_NETNS"] = "/var/run/netns/x",
            ["CNI_IFNAME"] = "eth0",
            ["CNI_PATH"] = "/opt/cni/bin",
        };
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(config));
        using var stdout = new MemoryStream();
        int exit = Dispatcher.Run(plugin, env, stdin, stdout, TextWriter.Null);
        return (exit, Encoding.UTF8.GetString(stdout.ToArray()));
    }

    private static JsonNode Error(string output) => JsonNode.Parse(output)!;

    [Fact]
    public void Add_passes_prev_result_through_and_publishes_to_both_container_addresses()
    {
        var node = new FakeNode();
        (int exit, string output) = Run(node, "ADD", Config());
        Assert.Equal(0, exit);
        var result = JsonNode.Parse(output)!;
        Assert.Equal(3, result["ips"]!.AsArray().Count);
        Assert.Equal("eth0", result["interfaces"]![2]!["name"]!.GetValue<string>());
        Assert.Equal("add ctr1 eth0 mynet 8080->80/tcp 10.88.0.5 fd00:88::5", node.Calls[0]);
        Assert.Equal("route_localnet 10.88.0.5 cni0", node.Calls[1]);
        Assert.Equal(["10.88.0.0/16", "fd00:88::/64"], node.Sources!.Select(s => s.ToString()));
        Assert.Equal(2, node.Calls.Count); // no UDP: conntrack untouched
    }

    [Fact]
    public void Add_without_mappings_passes_through_and_touches_nothing()
    {
        var node = new FakeNode();
        (int exit, string output) = Run(node, "ADD", Config("[]"));
        Assert.Equal(0, exit);
        Assert.Empty(node.Calls);
        Assert.Equal(3, JsonNode.Parse(output)!["ips"]!.AsArray().Count);
    }

    [Fact]
    public void Add_needs_prev_result()
    {
        (int exit, string output) = Run(new FakeNode(), "ADD", Config(prev: false));
        Assert.Equal(1, exit);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, Error(output)["code"]!.GetValue<int>());
        Assert.Equal("must be called as chained plugin", Error(output)["msg"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("[{\"hostPort\":0,\"containerPort\":80}]", "Invalid host port number: 0")]
    [InlineData("[{\"hostPort\":70000,\"containerPort\":80}]", "Invalid host port number: 70000")]
    [InlineData("[{\"hostPort\":8080,\"containerPort\":-1}]", "Invalid container port number: -1")]
    [InlineData("[{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"icmp\"}]", "Invalid protocol 'icmp'")]
    [InlineData("[{\"hostPort\":8080,\"containerPort\":80,\"hostIP\":\"300.1.1.1\"}]", "Invalid host IP '300.1.1.1'")]
    [InlineData("[{\"hostPort\":8080,\"containerPort\":80,\"hostIP\":\"10.1\"}]", "Invalid host IP '10.1'")]
    [InlineData("[{\"hostPort\":8080,\"containerPort\":80},{\"hostPort\":8080,\"containerPort\":81}]", "host port 8080/tcp is mapped twice to different container ports")]
    public void Invalid_mappings_are_rejected_with_a_clear_error_before_anything_changes(string mappings, string message)
    {
        var node = new FakeNode();
        (int exit, string output) = Run(node, "ADD", Config(mappings));
        Assert.Equal(1, exit);
        Assert.Equal(ErrorCode.InvalidNetworkConfig, Error(output)["code"]!.GetValue<int>());
        Assert.Equal(message, Error(output)["msg"]!.GetValue<string>());
        Assert.Empty(node.Calls);
    }

    [Theory]
    [InlineData(",\"markMasqBit\":32", "markMasqBit must be between 0 and 31, got 32")]
    [InlineData(",\"markMasqBit\":5,\"externalSetMarkChain\":\"KUBE-MARK-MASQ\"", "Cannot specify externalSetMarkChain and markMasqBit")]
    [InlineData(",\"externalSetMarkChain\":\"bad chain\"", "invalid externalSetMarkChain 'bad chain'")]
    public void Invalid_options_are_rejected(string extra, string message)
    {
        (int exit, string output) = Run(new FakeNode(), "ADD", Config(extra: extra));
        Assert.Equal(1, exit);
        Assert.Equal(message, Error(output)["msg"]!.GetValue<string>());
    }

    [Fact]
    public void Iptables_conditions_are_refused_not_ignored()
    {
        (int exit, string output) = Run(new FakeNode(), "ADD", Config(extra: ",\"conditionsV4\":[\"-s\",\"1.2.3.4\"]"));
        Assert.Equal(1, exit);
        Assert.Equal(ErrorCode.UnsupportedField, Error(output)["code"]!.GetValue<int>());
    }

    [Fact]
    public void Options_follow_the_reference_defaults_and_meanings()
    {
        var node = new FakeNode();
        Run(node, "ADD", Config());
        Assert.Equal(new PortMappingOptions { Snat = true, Localhost = true, MarkMasqBit = 13 }, node.Options);
        Run(node, "ADD", Config(extra: ",\"snat\":false,\"markMasqBit\":14,\"masqAll\":true,\"localhostPorts\":false"));
        Assert.Equal(new PortMappingOptions { Snat = false, Localhost = false, MarkMasqBit = 14, MasqueradeAll = true }, node.Options);
        Run(node, "ADD", Config(extra: ",\"externalSetMarkChain\":\"KUBE-MARK-MASQ\""));
        Assert.Null(node.Options!.MarkMasqBit);
    }

    [Fact]
    public void Snat_off_means_no_route_localnet()
    {
        var node = new FakeNode();
        Assert.Equal(0, Run(node, "ADD", Config(extra: ",\"snat\":false")).Exit);
        Assert.DoesNotContain(node.Calls, c => c.StartsWith("route_localnet"));
    }

    [Fact]
    public void Add_that_fails_late_removes_what_it_published()
    {
        var node = new FakeNode { FailRouteLocalnet = new CniException(ErrorCode.Internal, "unable to enable route_localnet") };
        (int exit, string output) = Run(node, "ADD", Config());
        Assert.Equal(1, exit);
        Assert.Equal("unable to enable route_localnet", Error(output)["msg"]!.GetValue<string>());
        Assert.Equal("remove ctr1 eth0", node.Calls[^1]);
    }

    [Fact]
    public void Udp_mappings_forget_flows_to_the_host_port_on_add()
    {
        var node = new FakeNode();
        var (exit, output) = Run(node, "ADD", Config("[{\"hostPort\":5353,\"containerPort\":53,\"protocol\":\"UDP\",\"hostIP\":\"203.0.113.1\"},{\"hostPort\":8080,\"containerPort\":80}]"));
        Assert.True(exit == 0, output);
        Assert.Equal([new PublishedPort(PortProtocol.Udp, System.Net.Sockets.AddressFamily.InterNetwork, IPAddress.Parse("203.0.113.1"), 5353)], node.Forgotten);
    }

    [Fact]
    public void Del_needs_neither_prev_result_nor_mappings_and_forgets_udp_flows_it_removed()
    {
        var node = new FakeNode
        {
            Removed = [new PortMappingElement(PortMappingSet.Any4, null, PortProtocol.Udp, 5353, null), new PortMappingElement(PortMappingSet.Any4, null, PortProtocol.Tcp, 8080, null)],
        };
        (int exit, _) = Run(node, "DEL", Config("[]", prev: false));
        Assert.Equal(0, exit);
        Assert.Equal(["remove ctr1 eth0", "conntrack"], node.Calls);
        Assert.Equal([new PublishedPort(PortProtocol.Udp, System.Net.Sockets.AddressFamily.InterNetwork, null, 5353)], node.Forgotten);
    }

    [Fact]
    public void Check_reports_problems_as_a_cni_error()
    {
        var node = new FakeNode { CheckProblems = ["missing: pm-any6 * tcp 8080 -> fd00:88::5 . 80"] };
        (int exit, string output) = Run(node, "CHECK", Config());
        Assert.Equal(1, exit);
        Assert.Equal("port mappings are missing or changed", Error(output)["msg"]!.GetValue<string>());
        Assert.Contains("pm-any6", Error(output)["details"]!.GetValue<string>());
        Assert.Equal("check ctr1 eth0 10.88.0.5 fd00:88::5", node.Calls[0]);
        node.CheckProblems = [];
        Assert.Equal(0, Run(node, "CHECK", Config()).Exit);
    }

    [Fact]
    public void Gc_collects_this_network_keeping_valid_attachments()
    {
        var node = new FakeNode();
        string config = """{"cniVersion":"1.1.0","name":"mynet","type":"portmap","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]}""";
        Assert.Equal(0, Run(node, "GC", config).Exit);
        Assert.Equal(["gc mynet keep eth0"], node.Calls);
    }

    [Fact]
    public void Container_addresses_skip_host_side_interfaces_as_the_reference_does()
    {
        var prev = ResultCodec.Parse(System.Text.Json.JsonDocument.Parse(PrevResult).RootElement, "1.0.0");
        var addresses = ContainerAddresses.From(prev, "eth0");
        Assert.Equal("10.88.0.5/16", addresses.V4.ToString());
        Assert.Equal("fd00:88::5/64", addresses.V6.ToString());
        Assert.Null(ContainerAddresses.From(prev, "eth1").V4);
    }
}
