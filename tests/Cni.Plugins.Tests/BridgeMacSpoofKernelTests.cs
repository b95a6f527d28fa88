using System.Text.Json.Nodes;
using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Tests;

/// <summary>The bridge plugin's macspoofchk against the kernel, inside throwaway namespaces.</summary>
public sealed class BridgeMacSpoofKernelTests : IDisposable
{
    private const string SpoofedMac = "02:00:de:ad:be:ef";
    private readonly BridgeNode _node = new();
    private readonly BridgePlugin _plugin = new();

    public void Dispose() => _node.Dispose();

    private string Elements(string set) => _node.Exec(_node.Node, "nft", "list", "set", "bridge", "sharpcni", set);

    private static string MacOf(JsonNode result) => (string)result["interfaces"]![2]!["mac"]!;

    [KernelFact]
    public void Macspoofchk_drops_frames_with_another_source_mac_and_del_lifts_it()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace();
        string conf = _node.Config("""{"macspoofchk":true}""");
        var r1 = _node.Add(_plugin, conf, c1, containerId: "spoof1");
        _node.Add(_plugin, conf, c2, containerId: "spoof2");
        Assert.True(_node.Ping(c1, "10.66.0.3"), "c1 reaches c2 with its own MAC");
        string ownMac = MacOf(r1);
        Assert.Contains(ownMac, Elements("macspoof-allowed"));

        _node.Ip(c1, "link", "set", "eth0", "address", SpoofedMac);
        Assert.False(_node.Ping(c1, "10.66.0.3"), "c1 with a changed MAC must not reach c2");
        var check = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, r1), c1, containerId: "spoof1");
        Assert.Equal(1, check.Exit); // the container interface's MAC no longer matches the result

        _node.Ip(c1, "link", "set", "eth0", "address", ownMac);
        Assert.True(_node.Ping(c1, "10.66.0.3"), "c1 reaches c2 again with its own MAC");
        check = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, r1), c1, containerId: "spoof1");
        Assert.True(check.Exit == 0, check.Output);

        var del = _node.Invoke(_plugin, "DEL", conf, container: null, containerId: "spoof1");
        Assert.True(del.Exit == 0, del.Output);
        Assert.DoesNotContain("spoof1", Elements("macspoof-ports"));
        Assert.DoesNotContain("spoof1", Elements("macspoof-attachments"));
        Assert.Contains("spoof2", Elements("macspoof-ports"));
        Assert.Equal(0, _node.Invoke(_plugin, "DEL", conf, container: null, containerId: "spoof1").Exit);
    }

    [KernelFact]
    public void Check_fails_when_the_guard_was_deleted_behind_our_back()
    {
        string c1 = _node.NewNamespace();
        string conf = _node.Config("""{"macspoofchk":true}""");
        var r1 = _node.Add(_plugin, conf, c1);
        _node.Exec(_node.Node, "nft", "flush", "set", "bridge", "sharpcni", "macspoof-allowed");
        var (exit, output) = _node.Invoke(_plugin, "CHECK", BridgeNode.WithPrevResult(conf, r1), c1);
        Assert.Equal(1, exit);
        Assert.Contains("macspoofchk", output);
    }

    [KernelFact]
    public void Add_failure_after_setup_removes_the_guard()
    {
        string c1 = _node.NewNamespace();
        var failing = new BridgePlugin { FaultPoint = _ => throw new CniException(ErrorCode.FirstPluginCode, "forced failure") };
        var (exit, output) = _node.Invoke(failing, "ADD", _node.Config("""{"macspoofchk":true}"""), c1);
        Assert.Equal(1, exit);
        Assert.Contains("forced failure", output);
        Assert.DoesNotContain("ctr1 eth0", Elements("macspoof-ports"));
        Assert.DoesNotContain("ctr1 eth0", Elements("macspoof-attachments"));
        Assert.Equal(0, _node.Veths());
    }

    [KernelFact]
    public void Gc_removes_guards_of_attachments_that_are_no_longer_valid_even_when_their_veth_is_gone()
    {
        string c1 = _node.NewNamespace(), c2 = _node.NewNamespace(), c3 = _node.NewNamespace();
        string conf = _node.Config("""{"macspoofchk":true}""");
        _node.Add(_plugin, conf, c1, containerId: "keep");
        _node.Add(_plugin, conf, c2, containerId: "gone");
        _node.Add(_plugin, conf, c3, containerId: "vethless");
        _node.Ip(_node.Node, "link", "del", new Attachment("vethless", "eth0").HostInterfaceName);

        var gc = JsonNode.Parse(_node.Config("""{"macspoofchk":true}""", version: "1.1.0"))!.AsObject();
        gc["cni.dev/valid-attachments"] = JsonNode.Parse("""[{"containerID":"keep","ifname":"eth0"}]""");
        var (exit, output) = _node.Invoke(_plugin, "GC", gc.ToJsonString(), container: null);
        Assert.True(exit == 0 || output.Contains("collect IPAM reservations"), output);

        string index = Elements("macspoof-attachments");
        Assert.Contains("keep eth0", index);
        Assert.DoesNotContain("gone eth0", index);
        Assert.DoesNotContain("vethless eth0", index);
    }
}
