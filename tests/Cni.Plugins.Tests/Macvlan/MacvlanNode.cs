using System.Text;
using System.Text.Json.Nodes;
using Cni.Linux.Namespaces;
using Cni.Spec;

namespace Cni.Plugins.Tests.Macvlan;

/// <summary>
/// A throwaway "node" namespace whose "physical" NIC eth0 (10.67.0.2/24, default route via 10.67.0.1) is one end
/// of a veth to a "switch" namespace holding the host address 10.67.0.1/24 on swp0; plus container namespaces and
/// an IPAM data directory. All removed on Dispose, also when the test failed. The root namespace is never touched.
/// </summary>
public sealed class MacvlanNode : IDisposable
{
    public const string SwitchAddress = "10.67.0.1";
    private readonly List<string> _namespaces = [];

    public MacvlanNode()
    {
        IpamDir = Directory.CreateTempSubdirectory("cnitest-ipam-").FullName;
        try
        {
            Switch = NewNamespace();
            Node = NewNamespace();
            Ip(Node, "link", "add", "eth0", "type", "veth", "peer", "name", "swp0", "netns", Switch);
            Ip(Switch, "link", "set", "swp0", "up");
            Ip(Switch, "addr", "add", SwitchAddress + "/24", "dev", "swp0");
            Exec(Switch, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/conf/swp0/arp_accept");
            Ip(Node, "link", "set", "eth0", "up");
            Ip(Node, "addr", "add", "10.67.0.2/24", "dev", "eth0");
            Ip(Node, "route", "add", "default", "via", SwitchAddress);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Switch { get; } = "";
    public string Node { get; } = "";
    public string IpamDir { get; }

    public string NewNamespace()
    {
        string name = "cnitest-" + Guid.NewGuid().ToString("N")[..10];
        BridgeNode.Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        Ip(name, "link", "set", "lo", "up");
        return name;
    }

    /// <summary>A macvlan config with host-local IPAM on 10.67.0.0/24 from .10 (unless <paramref name="ipam"/> is false); <paramref name="extra"/> fields merged in.</summary>
    public string Config(string extra = "{}", bool ipam = true, string version = "1.0.0")
    {
        var conf = new JsonObject { ["cniVersion"] = version, ["name"] = "mvtest", ["type"] = "macvlan" };
        if (ipam)
        {
            conf["ipam"] = new JsonObject
            {
                ["type"] = "host-local",
                ["dataDir"] = IpamDir,
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = "10.67.0.0/24", ["rangeStart"] = "10.67.0.10", ["gateway"] = SwitchAddress })),
                ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
            };
        }
        foreach (var kv in JsonNode.Parse(extra)!.AsObject().ToList())
            conf[kv.Key] = kv.Value?.DeepClone();
        return conf.ToJsonString();
    }

    /// <summary>Runs one plugin command through the dispatcher on a thread inside the node namespace.</summary>
    public (int Exit, string Output) Invoke(CniPlugin plugin, string command, string config, string? container,
        string containerId = "ctr1", string ifName = "eth0", string args = "")
        => BridgeNode.InvokeIn(Node, plugin, command, config, container, containerId, ifName, args);

    public JsonNode Add(CniPlugin plugin, string config, string container, string containerId = "ctr1", string ifName = "eth0", string args = "")
        => BridgeNode.Succeeded(Invoke(plugin, "ADD", config, container, containerId, ifName, args));

    /// <summary>A failing call's CNI error code.</summary>
    public static int ErrorCode((int Exit, string Output) call)
    {
        Assert.True(call.Exit != 0, $"expected a failure, got: {call.Output}");
        return (int)JsonNode.Parse(call.Output)!["code"]!;
    }

    public string Ip(string ns, params string[] args) => BridgeNode.Run(["ip", "-n", ns, .. args]);
    public string Exec(string ns, params string[] args) => BridgeNode.Run(["ip", "netns", "exec", ns, .. args]);

    public bool Ping(string from, string to)
    {
        try { Exec(from, "busybox", "ping", "-c", "1", "-W", "1", to); return true; }
        catch (InvalidOperationException) { return false; }
    }

    public int Macvlans(string ns) =>
        Ip(ns, "-o", "link", "show", "type", "macvlan").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    public int Leases() => Directory.Exists(Path.Combine(IpamDir, "mvtest"))
        ? Directory.GetFiles(Path.Combine(IpamDir, "mvtest")).Count(f => !Path.GetFileName(f).StartsWith("last_reserved_ip") && Path.GetFileName(f) != "lock")
        : 0;

    public void DeleteNamespace(string ns)
    {
        BridgeNode.Run("ip", "netns", "del", ns);
        _namespaces.Remove(ns);
    }

    public void Dispose()
    {
        foreach (string ns in _namespaces.ToList())
        {
            try { BridgeNode.Run("ip", "netns", "del", ns); } catch (InvalidOperationException) { }
        }
        _namespaces.Clear();
        try { Directory.Delete(IpamDir, recursive: true); } catch (IOException) { }
    }
}
