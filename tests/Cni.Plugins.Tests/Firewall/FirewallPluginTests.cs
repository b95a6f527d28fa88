using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Cni.Plugins.FirewallMeta;
using Cni.Spec;

namespace Cni.Plugins.Tests.Firewall;

/// <summary>The firewall plugin's config, result and calls through the dispatcher, with a recording fake of the node: no root.</summary>
public class FirewallPluginTests
{
    private const string PrevResult = """
        {"cniVersion":"1.0.0",
         "interfaces":[{"name":"cni-podman0","mac":"aa:bb:cc:dd:ee:01"},{"name":"veth1234"},{"name":"eth0","sandbox":"/var/run/netns/x"}],
         "ips":[{"interface":2,"address":"10.88.0.5/16","gateway":"10.88.0.1"},{"interface":2,"address":"fd00:88::5/64"}],
         "routes":[{"dst":"0.0.0.0/0"}]}
        """;

    private sealed class FakeNode : IForwardFirewall
    {
        public List<string> Calls { get; } = [];
        public IReadOnlyList<string> Problems { get; set; } = [];
        public bool FailIngress { get; set; }

        public void Add(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain) =>
            Calls.Add($"add {network} {attachment.Tag} {string.Join(",", addresses)} {adminChain}");
        public void Remove(Attachment attachment, IReadOnlyList<IPAddress>? addresses = null) =>
            Calls.Add($"remove {attachment.Tag}" + (addresses is null ? "" : " " + string.Join(",", addresses)));
        public IReadOnlyList<string> Check(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain)
        {
            Calls.Add($"check {network} {attachment.Tag} {string.Join(",", addresses)} {adminChain}");
            return Problems;
        }
        public void Gc(string network, IReadOnlyCollection<Attachment> valid) => Calls.Add($"gc {network} {string.Join(",", valid.Select(a => a.Tag))}");
        public void EnsureIngressPolicy(string bridge, bool isolated, string network)
        {
            Calls.Add($"ingress {bridge} {(isolated ? "isolated" : "same-bridge")} {network}");
            if (FailIngress) throw new CniException(ErrorCode.Internal, "boom");
        }
        public bool HasIngressPolicy(string bridge, bool isolated) => true;
        public void Dispose() { }
    }

    private static string Config(string extra = "", bool prev = true, string version = "1.0.0") =>
        $$"""
        {"cniVersion":"{{version}}","name":"podman","type":"firewall"{{extra}}{{(prev ? ",\"prevResult\":" + PrevResult.Replace("\"1.0.0\"", "\"" + version + "\"") : "")}}}
        """;

    private static (int Exit, JsonNode? Output) Run(FakeNode node, string command, string config, string netns = "/var/run/netns/x")
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = "ctr1",
            ["CNI_NETNS"] = netns,
            ["CNI_IFNAME"] = "eth0",
            ["CNI_PATH"] = "/opt/cni/bin",
        };
        if (netns.Length == 0) env.Remove("CNI_NETNS");
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(config));
        using var stdout = new MemoryStream();
        int exit = Dispatcher.Run(new FirewallPlugin(() => node), env, stdin, stdout, TextWriter.Null);
        string text = Encoding.UTF8.GetString(stdout.ToArray());
        return (exit, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public void Add_passes_prevResult_through_unchanged_and_lets_every_address_through()
    {
        var node = new FakeNode();
        var (exit, result) = Run(node, "ADD", Config());
        Assert.Equal(0, exit);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(PrevResult), result), result!.ToJsonString());
        Assert.Equal(["add podman ctr1 eth0 10.88.0.5,fd00:88::5 CNI-ADMIN"], node.Calls);
    }

    [Theory]
    [InlineData("0.4.0")]
    [InlineData("1.1.0")]
    public void Add_prints_the_result_in_the_config_s_version(string version)
    {
        var (exit, result) = Run(new FakeNode(), "ADD", Config(version: version));
        Assert.Equal(0, exit);
        Assert.Equal(version, (string?)result!["cniVersion"]);
    }

    [Fact]
    public void Versions_before_0_4_0_are_refused_as_the_reference_refuses_them()
    {
        var (exit, error) = Run(new FakeNode(), "ADD", Config(version: "0.3.1"));
        Assert.NotEqual(0, exit);
        Assert.Equal(ErrorCode.IncompatibleVersion, (int)error!["code"]!);
    }

    [Fact]
    public void Fields_match_as_Go_matches_them_and_the_admin_chain_is_named()
    {
        var node = new FakeNode();
        Assert.Equal(0, Run(node, "ADD", Config(""","IptablesAdminChainName":"MY-ADMIN","Backend":"iptables","INGRESSPOLICY":"isolated" """)).Exit);
        Assert.Equal(["add podman ctr1 eth0 10.88.0.5,fd00:88::5 MY-ADMIN", "ingress cni-podman0 isolated podman"], node.Calls);
    }

    [Theory]
    [InlineData(""","backend":"firewalld" """, ErrorCode.UnsupportedField, "the firewalld backend is not supported")]
    [InlineData(""","ingressPolicy":"closed" """, ErrorCode.InvalidNetworkConfig, "unknown ingress policy: \"closed\"")]
    [InlineData(""","iptablesAdminChainName":"bad name" """, ErrorCode.InvalidNetworkConfig, "invalid iptablesAdminChainName 'bad name'")]
    [InlineData(""","iptablesAdminChainName":"A-CHAIN-NAME-LONGER-THAN-28-CHARS" """, ErrorCode.InvalidNetworkConfig, "invalid iptablesAdminChainName 'A-CHAIN-NAME-LONGER-THAN-28-CHARS'")]
    public void Bad_config_is_refused_before_anything_is_touched(string extra, int code, string message)
    {
        var node = new FakeNode();
        var (exit, error) = Run(node, "ADD", Config(extra));
        Assert.NotEqual(0, exit);
        Assert.Equal(code, (int)error!["code"]!);
        Assert.Equal(message, (string?)error["msg"]);
        Assert.Empty(node.Calls);
    }

    [Fact]
    public void Other_backend_values_are_accepted_as_the_reference_accepts_them()
    {
        Assert.Equal(0, Run(new FakeNode(), "ADD", Config(""","backend":"" """)).Exit);
        Assert.Equal(0, Run(new FakeNode(), "ADD", Config(""","backend":"iptables","firewalldZone":"trusted" """)).Exit);
    }

    [Fact]
    public void Add_without_prevResult_is_the_reference_s_error()
    {
        var (exit, error) = Run(new FakeNode(), "ADD", Config(prev: false));
        Assert.NotEqual(0, exit);
        Assert.Equal("missing prevResult from earlier plugin", (string?)error!["msg"]);
    }

    [Fact]
    public void A_failed_ingress_policy_undoes_the_accept_rules()
    {
        var node = new FakeNode { FailIngress = true };
        Assert.NotEqual(0, Run(node, "ADD", Config(""","ingressPolicy":"same-bridge" """)).Exit);
        Assert.Equal("remove ctr1 eth0", node.Calls[^1]);
    }

    [Fact]
    public void Del_needs_neither_prevResult_nor_the_netns()
    {
        var node = new FakeNode();
        Assert.Equal(0, Run(node, "DEL", Config(prev: false), netns: "").Exit);
        Assert.Equal(0, Run(node, "DEL", Config(""","backend":"firewalld" """, prev: false), netns: "").Exit);
        Assert.Equal(0, Run(node, "DEL", Config(), netns: "").Exit);
        Assert.Equal(["remove ctr1 eth0", "remove ctr1 eth0", "remove ctr1 eth0 10.88.0.5,fd00:88::5"], node.Calls);
    }

    [Fact]
    public void Check_reports_what_is_missing()
    {
        var node = new FakeNode { Problems = ["expected rule for 10.88.0.5 not found"] };
        var (exit, error) = Run(node, "CHECK", Config());
        Assert.NotEqual(0, exit);
        Assert.Equal("expected rule for 10.88.0.5 not found", (string?)error!["msg"]);
        Assert.Equal(0, Run(new FakeNode(), "CHECK", Config()).Exit);
    }

    [Fact]
    public void Gc_hands_the_valid_attachments_to_the_node()
    {
        var node = new FakeNode();
        string config = """{"cniVersion":"1.1.0","name":"podman","type":"firewall","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}""";
        Assert.Equal(0, Run(node, "GC", config, netns: "").Exit);
        Assert.Equal(["gc podman a eth0"], node.Calls);
    }
}
