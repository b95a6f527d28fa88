using System.Diagnostics;
using System.Text;
using Cni.Linux.Namespaces;
using Cni.Plugins.Bridge;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Vxlan;

/// <summary>
/// A throwaway "host" namespace with an underlay: veth ul0 (192.168.88.1/24, default route through it) whose
/// peer sits in a second throwaway namespace. Both are deleted on Dispose, also when the test failed. Nothing
/// touches the root namespace's network.
/// </summary>
public sealed class UnderlayHost : IDisposable
{
    public const string Local = "192.168.88.1";
    private readonly List<string> _namespaces = [];

    public UnderlayHost()
    {
        Name = NewNamespace();
        Far = NewNamespace();
        Ip("link", "add", "ul0", "netns", Name, "type", "veth", "peer", "name", "ul0", "netns", Far);
        Exec(Name, "ip", "addr", "add", Local + "/24", "dev", "ul0");
        Exec(Name, "ip", "link", "set", "ul0", "up");
        Exec(Far, "ip", "link", "set", "ul0", "up");
        Exec(Name, "ip", "route", "add", "default", "via", "192.168.88.254", "dev", "ul0", "onlink");
        Host = NetNs.OpenNamed(Name);
    }

    public string Name { get; }
    public string Far { get; }
    public NetNs Host { get; }
    public string LockDirectory { get; } = Path.Combine(Path.GetTempPath(), "vxlan-kernel-" + Guid.NewGuid().ToString("N")[..8]);

    public string NewNamespace()
    {
        string name = "cnitest-" + Guid.NewGuid().ToString("N")[..10];
        Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        return name;
    }

    public void DeleteNamespace(string name) => Run("ip", "netns", "del", name);

    /// <summary>Options parsed from the plugin fields given (a JSON fragment).</summary>
    public static VxlanOptions Options(string fields)
    {
        byte[] bytes = Config(fields);
        return VxlanOptions.From(VxlanConfig.Parse(bytes), BridgeConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Empty);
    }

    public static byte[] Config(string fields) =>
        Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"ovl","type":"vxlan",{{fields}}}""");

    public static CniRequest Request(string command, string fields, string containerId, string netnsName, string validAttachments = "[]")
    {
        string json = command == "GC"
            ? $$"""{"cniVersion":"1.1.0","name":"ovl","type":"vxlan","cni.dev/valid-attachments":{{validAttachments}},{{fields}}}"""
            : Encoding.UTF8.GetString(Config(fields));
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        return new CniRequest
        {
            Command = command,
            ContainerId = containerId,
            Netns = netnsName.Length == 0 ? "" : NetNs.PathOfNamed(netnsName),
            IfName = "eth0",
            Config = NetworkConfig.Parse(bytes),
            StdinData = bytes,
            Environment = new Dictionary<string, string>(),
        };
    }

    /// <summary>Ensures the bridge and the vxlan device as ADD does, inside the host namespace; returns the device.</summary>
    public Cni.Linux.Route.Link EnsureDevice(VxlanOptions o) => Host.Run(() =>
    {
        using var host = Cni.Linux.Route.RouteSocket.Open();
        var underlay = Underlay.Resolve(host, o);
        int mtu = OverlayMtu.Resolve(o.Mtu, underlay.Device.Mtu, underlay.Family, underlay.Device.Name);
        var bridge = BridgeLink.Ensure(host, o.Bridge.Bridge, mtu, false);
        VxlanNetwork.ClaimBridgeIfNew(host, o, bridge);
        return VxlanDevice.Ensure(host, o, underlay, mtu, bridge);
    });

    public string Ip(params string[] args) => Run(["ip", .. args]);

    public string Exec(string ns, params string[] command) => Run(["ip", "netns", "exec", ns, .. command]);

    public string InHost(params string[] command) => Exec(Name, command);

    public bool HostHasLink(string name)
    {
        try { InHost("ip", "link", "show", "dev", name); return true; }
        catch (InvalidOperationException) { return false; }
    }

    public void Dispose()
    {
        Host.Dispose();
        foreach (string ns in _namespaces)
        {
            try { Run("ip", "netns", "del", ns); } catch (InvalidOperationException) { }
        }
        try { Directory.Delete(LockDirectory, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    public static string Run(params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in command.Skip(1)) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new InvalidOperationException($"{string.Join(' ', command)} timed out"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', command)} failed ({p.ExitCode}): {stderr}");
        return stdout;
    }
}
