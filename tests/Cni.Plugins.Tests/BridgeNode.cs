using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Cni.Linux.Namespaces;
using Cni.Spec;

namespace Cni.Plugins.Tests;

/// <summary>Runs only as root with `ip` and the reference host-local present; the skip reason says what is missing.</summary>
public sealed class KernelFactAttribute : FactAttribute
{
    public KernelFactAttribute()
    {
        if (Environment.UserName != "root") Skip = "kernel test: needs root (network namespaces)";
        else if (!File.Exists("/usr/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/sbin/ip")) Skip = "kernel test: needs iproute2 (ip)";
        else if (!File.Exists(BridgeNode.HostLocal)) Skip = $"kernel test: needs {BridgeNode.HostLocal} (containernetworking-plugins)";
    }
}

/// <summary>
/// A throwaway "node" namespace where the plugin runs (its host side), plus container namespaces and an
/// IPAM data directory; all removed on Dispose, also when the test failed. Nothing touches the root namespace.
/// </summary>
public sealed class BridgeNode : IDisposable
{
    public const string HostLocal = "/usr/lib/cni/host-local";
    private readonly List<string> _namespaces = [];

    public BridgeNode()
    {
        Node = NewNamespace();
        IpamDir = Directory.CreateTempSubdirectory("cnitest-ipam-").FullName;
        Bridge = "tb" + Guid.NewGuid().ToString("N")[..8];
    }

    public string Node { get; }
    public string IpamDir { get; }
    public string Bridge { get; }

    public string NewNamespace()
    {
        string name = "cnitest-" + Guid.NewGuid().ToString("N")[..10];
        Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        return name;
    }

    public static string PathOf(string ns) => NetNs.PathOfNamed(ns);

    /// <summary>A bridge config with host-local IPAM in this node's data dir; <paramref name="extra"/> fields are merged in.</summary>
    public string Config(string extra = "{}", string subnet = "10.66.0.0/24", bool ipam = true, string version = "1.0.0")
    {
        var conf = new JsonObject
        {
            ["cniVersion"] = version,
            ["name"] = "ktest",
            ["type"] = "bridge",
            ["bridge"] = Bridge,
        };
        if (ipam)
        {
            conf["ipam"] = new JsonObject
            {
                ["type"] = "host-local",
                ["dataDir"] = IpamDir,
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject { ["subnet"] = subnet })),
            };
        }
        foreach (var kv in JsonNode.Parse(extra)!.AsObject().ToList())
            conf[kv.Key] = kv.Value?.DeepClone();
        return conf.ToJsonString();
    }

    /// <summary>Runs one plugin command through the dispatcher on a thread inside namespace <paramref name="node"/>.</summary>
    public static (int Exit, string Output) InvokeIn(string node, CniPlugin plugin, string command, string config, string? container,
        string containerId = "ctr1", string ifName = "eth0", string args = "")
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = containerId,
            ["CNI_IFNAME"] = ifName,
            ["CNI_PATH"] = Path.GetDirectoryName(HostLocal)!,
            ["CNI_ARGS"] = args,
        };
        if (container is not null) env["CNI_NETNS"] = container.StartsWith('/') ? container : PathOf(container);
        using var nodeNs = NetNs.OpenNamed(node);
        return nodeNs.Run(() =>
        {
            using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(config));
            using var stdout = new MemoryStream();
            int exit = Dispatcher.Run(plugin, env, stdin, stdout, TextWriter.Null);
            return (exit, Encoding.UTF8.GetString(stdout.ToArray()));
        });
    }

    /// <summary>Runs one plugin command through the dispatcher on a thread inside the node namespace.</summary>
    public (int Exit, string Output) Invoke(CniPlugin plugin, string command, string config, string? container,
        string containerId = "ctr1", string ifName = "eth0", string args = "")
        => InvokeIn(Node, plugin, command, config, container, containerId, ifName, args);

    /// <summary>ADD that must succeed; returns the printed result.</summary>
    public JsonNode Add(CniPlugin plugin, string config, string container, string containerId = "ctr1", string ifName = "eth0", string args = "")
        => Succeeded(Invoke(plugin, "ADD", config, container, containerId, ifName, args));

    /// <summary>The printed result of an ADD that must have succeeded.</summary>
    public static JsonNode Succeeded((int Exit, string Output) call)
    {
        Assert.True(call.Exit == 0, $"ADD failed: {call.Output}");
        return JsonNode.Parse(call.Output)!;
    }

    /// <summary>A config with prevResult set, for CHECK and DEL.</summary>
    public static string WithPrevResult(string config, JsonNode result)
    {
        var conf = JsonNode.Parse(config)!.AsObject();
        conf["prevResult"] = result.DeepClone();
        return conf.ToJsonString();
    }

    public string Ip(string ns, params string[] args) => Run(["ip", "-n", ns, .. args]);
    public string Exec(string ns, params string[] args) => Run(["ip", "netns", "exec", ns, .. args]);
    public bool Ping(string from, string to)
    {
        try { Exec(from, "busybox", "ping", "-c", "1", "-W", "2", to); return true; }
        catch (InvalidOperationException) { return false; }
    }

    public int Leases() => Directory.Exists(Path.Combine(IpamDir, "ktest"))
        ? Directory.GetFiles(Path.Combine(IpamDir, "ktest")).Count(f => !Path.GetFileName(f).StartsWith("last_reserved_ip") && Path.GetFileName(f) != "lock")
        : 0;

    public int Veths() => Ip(Node, "-o", "link", "show", "type", "veth").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

    public void DeleteNamespace(string ns)
    {
        Run("ip", "netns", "del", ns);
        _namespaces.Remove(ns);
    }

    public void Dispose()
    {
        foreach (string ns in _namespaces)
        {
            try { Run("ip", "netns", "del", ns); } catch (InvalidOperationException) { }
        }
        try { Directory.Delete(IpamDir, recursive: true); } catch (IOException) { }
    }

    public static string Run(params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in command.Skip(1)) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            throw new InvalidOperationException($"{string.Join(' ', command)} timed out");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({p.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }
}
