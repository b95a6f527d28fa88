using System.Net;
using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Plugins.Vxlan;

namespace Cni.Plugins.Tests.Vxlan;

/// <summary>The cluster mode's programming against the kernel, inside throwaway namespaces (see <see cref="UnderlayHost"/>).</summary>
public sealed class ClusterOverlayKernelTests : IDisposable
{
    private readonly UnderlayHost _h = new();

    public void Dispose()
    {
        _h.Dispose();
        if (Directory.Exists(_h.LockDirectory)) Directory.Delete(_h.LockDirectory, recursive: true);
    }

    private const string Cluster = "\"cluster\":{\"etcd\":{\"endpoints\":[\"https://127.0.0.1:1\"]},\"nodeName\":\"me\"}";

    private Link Ensure(VxlanOptions o) => _h.EnsureDevice(o);

    private OverlayChange Apply(VxlanOptions o, bool remove, params (string Node, string Ip)[] hosts) => _h.Host.Run(() =>
    {
        using var host = RouteSocket.Open();
        var desired = new SortedDictionary<string, IPAddress>(StringComparer.Ordinal);
        foreach (var (node, ip) in hosts) desired[node] = IPAddress.Parse(ip);
        return ClusterOverlay.Apply(host, o, PeerLedger.PathFor(_h.LockDirectory, o.Vni, "me"), desired, remove);
    });

    private string Flood(uint vni) => string.Join(" ", _h.Host.Run(() =>
    {
        using var host = RouteSocket.Open();
        int index = host.GetLink("vxlan" + vni)!.Index;
        return FloodList.Current(host.ListFdbEntries(index), index).Select(a => a.ToString()).Order().ToList();
    }));

    [Fact]
    public void Nothing_is_programmed_before_the_device_exists()
    {
        var o = UnderlayHost.Options("\"vni\":91," + Cluster);
        Assert.True(Apply(o, true, ("b", "192.168.88.2")).DeviceMissing);
    }

    [Fact]
    public void Registered_hosts_are_added_and_only_the_ledgers_entries_are_removed()
    {
        var o = UnderlayHost.Options("\"vni\":92,\"peers\":[\"192.168.88.9\"]," + Cluster);
        Ensure(o);
        Assert.Equal("192.168.88.9", Flood(92)); // the config's peer
        _h.InHost("bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan92", "dst", "192.168.88.50"); // an admin's

        var first = Apply(o, false, ("b", "192.168.88.2"), ("c", "192.168.88.3"), ("nine", "192.168.88.9"));
        Assert.Equal(["b 192.168.88.2", "c 192.168.88.3"], first.Added);
        Assert.Equal("192.168.88.2 192.168.88.3 192.168.88.50 192.168.88.9", Flood(92));

        // The plugin (no removal) never takes an entry away.
        Apply(o, false, ("b", "192.168.88.2"));
        Assert.Equal("192.168.88.2 192.168.88.3 192.168.88.50 192.168.88.9", Flood(92));

        // The agent: c and "nine" left. c's entry was the cluster's: gone; 192.168.88.9 is the config's peer and the
        // admin's entry was never the cluster's: both stay.
        var second = Apply(o, true, ("b", "192.168.88.2"));
        Assert.Equal(["c 192.168.88.3"], second.Removed);
        Assert.Equal("192.168.88.2 192.168.88.50 192.168.88.9", Flood(92));

        // A re-ensure of the device (next ADD) keeps the registered hosts' entries in cluster mode.
        Ensure(o);
        Assert.Equal("192.168.88.2 192.168.88.50 192.168.88.9", Flood(92));
    }

    [Fact]
    public void A_missing_entry_comes_back_and_a_moved_host_is_reprogrammed()
    {
        var o = UnderlayHost.Options("\"vni\":93," + Cluster);
        Ensure(o);
        Apply(o, true, ("b", "192.168.88.2"));
        _h.InHost("bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan93", "dst", "192.168.88.2");
        Assert.Equal(["b 192.168.88.2"], Apply(o, true, ("b", "192.168.88.2")).Added);
        var moved = Apply(o, true, ("b", "192.168.88.7"));
        Assert.Equal(["b 192.168.88.2"], moved.Removed);
        Assert.Equal(["b 192.168.88.7"], moved.Added);
        Assert.Equal("192.168.88.7", Flood(93));
    }
}
