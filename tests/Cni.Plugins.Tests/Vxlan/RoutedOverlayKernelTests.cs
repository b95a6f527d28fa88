using System.Net;
using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Plugins.Vxlan;

namespace Cni.Plugins.Tests.Vxlan;

/// <summary>Routed mode's programming against the kernel, inside throwaway namespaces (see <see cref="UnderlayHost"/>).</summary>
public sealed class RoutedOverlayKernelTests : IDisposable
{
    private readonly UnderlayHost _h = new();

    public void Dispose() => _h.Dispose();

    private static VxlanOptions Routed(uint vni) => UnderlayHost.Options(
        $$"""
        "vni":{{vni}},"isGateway":true,"cluster":{"etcd":{"endpoints":["https://127.0.0.1:1"]},"nodeName":"me","mode":"routed"},
        "ipam":{"type":"cluster-ipam","pools":[{"subnet":"10.244.0.0/16","blockSize":26}]}
        """);

    private Link Ensure(VxlanOptions o) => _h.EnsureDevice(o);

    private static VtepRegistration Reg(string node, string underlay, byte last, params string[] blocks) =>
        new(node, 0, IPAddress.Parse(underlay), new HardwareAddress(0x02_00_00_00_00_00UL | last), 4789, blocks);

    private OverlayChange Apply(VxlanOptions o, bool remove, params VtepRegistration[] regs) => _h.Host.Run(() =>
    {
        using var host = RouteSocket.Open();
        var all = regs.Select(r => r with { Vni = o.Vni }).Append(new VtepRegistration("me", o.Vni, IPAddress.Parse(UnderlayHost.Local),
            new HardwareAddress(0x02_00_00_00_00_01), 4789, ["10.244.0.0/26"]));
        return ClusterOverlay.ApplyRegistered(host, o, PeerLedger.PathFor(_h.LockDirectory, o.Vni, "me"), all, IPAddress.Parse(UnderlayHost.Local), remove, null);
    });

    private string Routes(uint vni) => _h.InHost("ip", "-4", "route", "show", "dev", "vxlan" + vni);
    private string Neighbours(uint vni) => _h.InHost("ip", "-4", "neigh", "show", "dev", "vxlan" + vni);
    private string Fdb(uint vni) => _h.InHost("bridge", "fdb", "show", "dev", "vxlan" + vni);

    [Fact]
    public void The_device_is_not_a_bridge_port_and_the_bridge_answers_arp_by_proxy_at_once()
    {
        var o = Routed(94);
        var device = Ensure(o);
        Assert.Equal(0, device.MasterIndex);
        Assert.Equal("1", _h.InHost("cat", "/proc/sys/net/ipv4/conf/vx94/proxy_arp").Trim());
        Assert.Equal("0", _h.InHost("cat", "/proc/sys/net/ipv4/neigh/vx94/proxy_delay").Trim());
        Assert.Equal("1", _h.InHost("cat", "/proc/sys/net/ipv4/ip_forward").Trim());
        // CHECK agrees, and notices the device put back on the bridge.
        _h.Host.Run(() =>
        {
            using var host = RouteSocket.Open();
            var underlay = Underlay.Resolve(host, o);
            VxlanDevice.Check(host, o, underlay, device.Mtu, host.GetLink("vx94")!);
            return 0;
        });
        _h.InHost("ip", "link", "set", "vxlan94", "master", "vx94");
        var e = Assert.Throws<Cni.Spec.CniException>(() => _h.Host.Run(() =>
        {
            using var host = RouteSocket.Open();
            VxlanDevice.Check(host, o, Underlay.Resolve(host, o), device.Mtu, host.GetLink("vx94")!);
            return 0;
        }));
        Assert.Contains("routed mode keeps it apart", e.Message);
        // The next ADD takes it off the bridge again.
        Assert.Equal(0, Ensure(o).MasterIndex);
    }

    [Fact]
    public void Each_host_gets_fdb_neighbour_and_block_routes_and_only_ours_go_when_it_leaves()
    {
        var o = Routed(95);
        Ensure(o);
        // An admin's route and neighbour on the device: never touched.
        _h.InHost("ip", "neigh", "add", "192.168.88.250", "lladdr", "02:00:00:00:00:fa", "dev", "vxlan95", "nud", "permanent");
        _h.InHost("ip", "route", "add", "10.99.0.0/24", "via", "192.168.88.250", "dev", "vxlan95", "onlink");

        var b = Reg("b", "192.168.88.2", 2, "10.244.0.64/26", "10.244.1.0/26");
        var c = Reg("c", "192.168.88.3", 3, "10.244.0.128/26");
        var first = Apply(o, false, b, c);
        Assert.Equal(7, first.Added.Count); // 2 FDB, 2 neighbours, 3 routes
        string routes = Routes(95);
        Assert.Contains("10.244.0.64/26 via 192.168.88.2 onlink", routes);
        Assert.Contains("10.244.1.0/26 via 192.168.88.2 onlink", routes);
        Assert.Contains("10.244.0.128/26 via 192.168.88.3 onlink", routes);
        Assert.DoesNotContain("10.244.0.0/26", routes); // this node's own block
        Assert.Contains("192.168.88.2 lladdr 02:00:00:00:00:02 PERMANENT", Neighbours(95));
        Assert.Contains("02:00:00:00:00:03 dst 192.168.88.3 self permanent", Fdb(95));

        // Idempotent.
        Assert.False(Apply(o, true, b, c).Any);

        // c leaves (the agent): its three entries go, b's and the admin's stay.
        var second = Apply(o, true, b);
        Assert.Equal(3, second.Removed.Count);
        Assert.DoesNotContain("192.168.88.3", Routes(95) + Neighbours(95) + Fdb(95));
        Assert.Contains("10.99.0.0/24 via 192.168.88.250 onlink", Routes(95));
        Assert.Contains("192.168.88.250 lladdr 02:00:00:00:00:fa PERMANENT", Neighbours(95));
        Assert.Contains("10.244.0.64/26 via 192.168.88.2 onlink", Routes(95));

        // A route removed by hand comes back; b's block released: its route goes.
        _h.InHost("ip", "route", "del", "10.244.1.0/26", "dev", "vxlan95");
        Apply(o, true, b);
        Assert.Contains("10.244.1.0/26 via 192.168.88.2 onlink", Routes(95));
        Apply(o, true, Reg("b", "192.168.88.2", 2, "10.244.0.64/26"));
        Assert.DoesNotContain("10.244.1.0/26", Routes(95));

        // Everyone leaves: only the admin's entries remain.
        Apply(o, true);
        Assert.Equal("10.99.0.0/24 via 192.168.88.250 onlink", Routes(95).Trim());
        Assert.Equal("192.168.88.250 lladdr 02:00:00:00:00:fa PERMANENT", Neighbours(95).Trim());
        Assert.DoesNotContain("02:00:00:00:00:02", Fdb(95));
    }

    [Fact]
    public void A_host_whose_vtep_moved_is_reprogrammed()
    {
        var o = Routed(96);
        Ensure(o);
        Apply(o, true, Reg("b", "192.168.88.2", 2, "10.244.0.64/26"));
        Apply(o, true, Reg("b", "192.168.88.7", 9, "10.244.0.64/26"));
        Assert.Contains("10.244.0.64/26 via 192.168.88.7 onlink", Routes(96));
        Assert.Equal("192.168.88.7 lladdr 02:00:00:00:00:09 PERMANENT", Neighbours(96).Trim());
        string fdb = Fdb(96);
        Assert.Contains("02:00:00:00:00:09 dst 192.168.88.7 self permanent", fdb);
        Assert.DoesNotContain("192.168.88.2", fdb);
    }
}
