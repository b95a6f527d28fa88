using System.Text.Json.Nodes;
using Cni.Plugins.Bandwidth;

namespace Cni.Plugins.Tests.Bandwidth;

/// <summary>
/// The bandwidth plugin in throwaway namespaces: a node namespace holding the host end of a veth whose other end is
/// eth0 in a container namespace, as the bridge or ptp plugin leaves it; qdiscs read back with tc.
/// </summary>
public sealed class BandwidthKernelTests : IDisposable
{
    private readonly BridgeNode _node = new();
    private readonly string _container;
    private const string HostVeth = "vethbw0";

    public BandwidthKernelTests()
    {
        LoadIfbModule();
        _container = _node.NewNamespace();
        _node.Ip(_node.Node, "link", "add", HostVeth, "type", "veth", "peer", "name", "eth0", "netns", _container);
        _node.Ip(_node.Node, "link", "set", HostVeth, "up");
        _node.Ip(_container, "link", "set", "eth0", "up");
    }

    public void Dispose() => _node.Dispose();

    /// <summary>
    /// The first ifb created anywhere loads the ifb module, which by default also makes ifb0 and ifb1 in the root
    /// namespace: load it with none first (a no-op when it is loaded or built in, or modprobe is missing).
    /// </summary>
    internal static void LoadIfbModule()
    {
        foreach (string dir in new[] { "/usr/sbin", "/sbin" })
        {
            if (!File.Exists(Path.Combine(dir, "modprobe"))) continue;
            try { BridgeNode.Run(Path.Combine(dir, "modprobe"), "ifb", "numifbs=0"); } catch (InvalidOperationException) { }
            return;
        }
    }

    private string Config(string bandwidth, string version = "1.0.0") => $$$"""
        {"cniVersion":"{{{version}}}","name":"bwtest","type":"bandwidth",{{{bandwidth}}}
         "prevResult":{"cniVersion":"{{{version}}}","interfaces":[{"name":"{{{HostVeth}}}"},{"name":"eth0","sandbox":"{{{BridgeNode.PathOf(_container)}}}"}],
                       "ips":[{"interface":1,"address":"10.66.0.2/24"}]}}
        """;

    private const string Both = "\"ingressRate\":1000000,\"ingressBurst\":80000,\"egressRate\":2000000,\"egressBurst\":160000,";
    private string Ifb => BandwidthPlugin.IfbName("bwtest", "ctr1");

    [KernelFact]
    public void Add_shapes_both_ways_and_adds_the_ifb_to_the_result()
    {
        var result = _node.Add(new BandwidthPlugin(), Config(Both), _container);
        var interfaces = result["interfaces"]!.AsArray();
        Assert.Equal(3, interfaces.Count);
        Assert.Equal(Ifb, (string?)interfaces[2]!["name"]);
        Assert.Matches("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", (string?)interfaces[2]!["mac"]);
        Assert.Null(interfaces[2]!["sandbox"]);
        string qdiscs = BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show");
        Assert.Matches($"qdisc tbf 1: dev {HostVeth} root .*rate 1Mbit burst 10000b lat 25", qdiscs);
        Assert.Matches($"qdisc ingress ffff: dev {HostVeth} parent ffff:fff1", qdiscs);
        Assert.Matches($"qdisc tbf 1: dev {Ifb} root .*rate 2Mbit burst 20000b lat 25", qdiscs);
        string filters = BridgeNode.Run("tc", "-n", _node.Node, "filter", "show", "dev", HostVeth, "parent", "ffff:");
        Assert.Contains("u32", filters);
        Assert.Contains($"Egress Redirect to device {Ifb}", filters);
        Assert.Contains("flowid 1:1", filters);
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "CHECK", Config(Both), _container).Exit);
    }

    [KernelFact]
    public void Check_fails_when_a_rate_differs()
    {
        _node.Add(new BandwidthPlugin(), Config(Both), _container);
        var check = _node.Invoke(new BandwidthPlugin(), "CHECK", Config(Both.Replace("1000000", "3000000")), _container);
        Assert.NotEqual(0, check.Exit);
        Assert.StartsWith("Rate doesn't match", (string?)JsonNode.Parse(check.Output)!["msg"]);
    }

    [KernelFact]
    public void Del_removes_the_ifb_and_succeeds_again_and_without_netns()
    {
        _node.Add(new BandwidthPlugin(), Config(Both), _container);
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "DEL", Config(Both), _container).Exit);
        Assert.DoesNotContain("ifb", _node.Ip(_node.Node, "-o", "link", "show", "type", "ifb") + " ");
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "DEL", Config(Both), _container).Exit);
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "DEL", """{"cniVersion":"1.0.0","name":"bwtest","type":"bandwidth"}""", null).Exit);
    }

    [KernelFact]
    public void Del_removes_the_qdiscs_it_made_on_a_host_veth_that_stays_and_an_add_again_succeeds()
    {
        // The veth outlives bandwidth's DEL when the interface plugin's DEL fails or only bandwidth is retried.
        _node.Add(new BandwidthPlugin(), Config(Both), _container);
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "DEL", Config(Both), _container).Exit);
        string qdiscs = BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show", "dev", HostVeth);
        Assert.DoesNotContain("tbf", qdiscs);
        Assert.DoesNotContain("ingress", qdiscs);
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "ADD", Config(Both), _container).Exit);
    }

    [KernelFact]
    public void Add_over_an_add_whose_del_never_ran_replaces_its_qdiscs_and_ifb()
    {
        _node.Add(new BandwidthPlugin(), Config(Both), _container);
        var again = _node.Invoke(new BandwidthPlugin(), "ADD", Config(Both.Replace("1000000", "3000000")), _container);
        Assert.Equal(0, again.Exit);
        string qdiscs = BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show", "dev", HostVeth);
        Assert.Matches("rate 3Mbit", qdiscs);
        Assert.Single(qdiscs.Split('\n'), l => l.StartsWith("qdisc ingress", StringComparison.Ordinal));
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "CHECK", Config(Both.Replace("1000000", "3000000")), _container).Exit);
    }

    [KernelFact]
    public void Del_keeps_a_root_qdisc_that_is_not_its_own()
    {
        _node.Ip(_node.Node, "link", "set", HostVeth, "txqueuelen", "1000");
        BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "add", "dev", HostVeth, "root", "pfifo");
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "DEL", Config(Both), _container).Exit);
        Assert.Contains("pfifo", BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show", "dev", HostVeth));
    }

    [KernelFact]
    public void A_failed_add_leaves_nothing_behind()
    {
        // The IFB's name is taken (an ADD without DEL): the ingress TBF made before must be undone.
        _node.Ip(_node.Node, "link", "add", Ifb, "type", "ifb");
        var add = _node.Invoke(new BandwidthPlugin(), "ADD", Config(Both), _container);
        Assert.NotEqual(0, add.Exit);
        Assert.Contains("\"code\"", add.Output);
        string qdiscs = BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show", "dev", HostVeth);
        Assert.DoesNotContain("tbf", qdiscs);
        Assert.DoesNotContain("ingress", qdiscs);
    }

    [KernelFact]
    public void Without_limits_the_result_is_prevResult_unchanged()
    {
        var result = _node.Add(new BandwidthPlugin(), Config(""), _container);
        Assert.Equal(2, result["interfaces"]!.AsArray().Count);
        Assert.DoesNotContain("tbf", BridgeNode.Run("tc", "-n", _node.Node, "qdisc", "show"));
    }

    [KernelFact]
    public void A_container_interface_that_is_not_a_veth_is_refused_clearly()
    {
        string other = _node.NewNamespace();
        _node.Ip(_node.Node, "link", "add", "mv0", "link", HostVeth, "type", "macvlan");
        _node.Ip(_node.Node, "link", "set", "mv0", "netns", other, "name", "eth0");
        string config = Config(Both).Replace(BridgeNode.PathOf(_container), BridgeNode.PathOf(other));
        var add = _node.Invoke(new BandwidthPlugin(), "ADD", config, other);
        Assert.NotEqual(0, add.Exit);
        var error = JsonNode.Parse(add.Output)!;
        Assert.Equal("container interface eth0 has no veth peer", (string?)error["msg"]);
        Assert.Contains("macvlan", (string?)error["details"]);
    }

    [KernelFact]
    public void Gc_removes_the_ifb_of_an_attachment_that_is_not_valid_and_keeps_a_valid_one()
    {
        _node.Add(new BandwidthPlugin(), Config(Both, "1.1.0"), _container);
        string valid = """{"cniVersion":"1.1.0","name":"bwtest","type":"bandwidth","cni.dev/valid-attachments":[{"containerID":"ctr1","ifname":"eth0"}]}""";
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "GC", valid, null).Exit);
        Assert.Contains(Ifb, _node.Ip(_node.Node, "-o", "link", "show", "type", "ifb"));
        string none = """{"cniVersion":"1.1.0","name":"bwtest","type":"bandwidth","cni.dev/valid-attachments":[]}""";
        Assert.Equal(0, _node.Invoke(new BandwidthPlugin(), "GC", none, null).Exit);
        Assert.DoesNotContain(Ifb, _node.Ip(_node.Node, "-o", "link", "show", "type", "ifb"));
    }
}
