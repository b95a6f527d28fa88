using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Cni.Linux.Route;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Vxlan;

public class VtepAddressTests
{
    [Fact]
    public void Vtep_mac_is_a_function_of_vni_and_local_address()
    {
        var a = VtepAddress.Derive(42, IPAddress.Parse("10.0.0.1"));
        Assert.Equal(a, VtepAddress.Derive(42, IPAddress.Parse("10.0.0.1")));
        Assert.NotEqual(a, VtepAddress.Derive(43, IPAddress.Parse("10.0.0.1")));
        Assert.NotEqual(a, VtepAddress.Derive(42, IPAddress.Parse("10.0.0.2")));
        Assert.NotEqual(a, VtepAddress.Derive(42, IPAddress.Parse("fd00::1")));
    }

    [Fact]
    public void Vtep_mac_derivation_is_stable_across_versions()
    {
        // A changed derivation would change every VTEP's MAC on upgrade: pin one vector.
        Assert.Equal("4e:c8:62:83:59:18", VtepAddress.Derive(4242, IPAddress.Parse("192.168.10.1")).ToString());
    }

    [Fact]
    public void Vtep_mac_is_unicast_and_locally_administered()
    {
        for (uint vni = 1; vni < 200; vni++)
        {
            var mac = VtepAddress.Derive(vni, IPAddress.Parse("192.168.7.3"));
            ulong first = mac.Value >> 40;
            Assert.False(mac.IsMulticast);
            Assert.Equal(0x02ul, first & 0x03);
        }
    }
}

public class OverlayMtuTests
{
    [Theory]
    [InlineData(1500, AddressFamily.InterNetwork, 1450)]
    [InlineData(1500, AddressFamily.InterNetworkV6, 1430)]
    [InlineData(9000, AddressFamily.InterNetwork, 8950)]
    public void Default_is_underlay_mtu_minus_the_encapsulation(int underlay, AddressFamily family, int expected)
    {
        Assert.Equal(expected, OverlayMtu.Resolve(null, underlay, family, "eth0"));
    }

    [Fact]
    public void A_configured_mtu_that_fits_is_kept()
    {
        Assert.Equal(1400, OverlayMtu.Resolve(1400, 1500, AddressFamily.InterNetwork, "eth0"));
        Assert.Equal(1450, OverlayMtu.Resolve(1450, 1500, AddressFamily.InterNetwork, "eth0"));
    }

    [Theory]
    [InlineData(1451, AddressFamily.InterNetwork)]
    [InlineData(1500, AddressFamily.InterNetwork)]
    [InlineData(1431, AddressFamily.InterNetworkV6)]
    public void A_configured_mtu_above_what_the_underlay_carries_is_rejected(int mtu, AddressFamily family)
    {
        var e = Assert.Throws<CniException>(() => OverlayMtu.Resolve(mtu, 1500, family, "eth0"));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("too large for underlay device eth0", e.Message);
    }

    [Fact]
    public void An_underlay_too_small_for_vxlan_is_rejected()
    {
        Assert.Throws<CniException>(() => OverlayMtu.Resolve(null, 100, AddressFamily.InterNetwork, "eth0"));
    }
}

public class FloodListTests
{
    private static IPAddress A(string s) => IPAddress.Parse(s);

    [Fact]
    public void Plan_adds_missing_and_removes_unlisted_peers()
    {
        var (add, remove) = FloodList.Plan([A("10.0.0.2"), A("10.0.0.3")], [A("10.0.0.3"), A("10.0.0.4")]);
        Assert.Equal([A("10.0.0.4")], add);
        Assert.Equal([A("10.0.0.2")], remove);
    }

    [Fact]
    public void Plan_is_empty_when_the_list_matches()
    {
        var (add, remove) = FloodList.Plan([A("10.0.0.2")], [A("10.0.0.2")]);
        Assert.Empty(add);
        Assert.Empty(remove);
    }

    [Fact]
    public void Only_all_zero_self_entries_of_the_device_are_the_flood_list()
    {
        var zero = new PhysicalAddress(new byte[6]);
        var unicast = PhysicalAddress.Parse("02-00-00-00-00-09");
        Neighbour[] fdb =
        [
            new() { LinkIndex = 5, HardwareAddress = zero, Address = A("10.0.0.2"), Flags = RouteSocket.NTF_SELF },
            new() { LinkIndex = 5, HardwareAddress = unicast, Address = A("10.0.0.3"), Flags = RouteSocket.NTF_SELF },
            new() { LinkIndex = 5, HardwareAddress = zero, Address = A("10.0.0.4"), Flags = RouteSocket.NTF_MASTER },
            new() { LinkIndex = 6, HardwareAddress = zero, Address = A("10.0.0.5"), Flags = RouteSocket.NTF_SELF },
            new() { LinkIndex = 5, HardwareAddress = unicast, Flags = RouteSocket.NTF_MASTER },
        ];
        Assert.Equal([A("10.0.0.2")], FloodList.Current(fdb, 5));
    }
}

public class UnderlaySelectionTests
{
    private static LinkAddress Addr(string a, RouteScope scope = RouteScope.Universe) =>
        new() { LinkIndex = 2, Address = IPAddress.Parse(a), PrefixLength = 24, Scope = scope };

    [Fact]
    public void Local_address_is_the_first_global_one_ipv4_first()
    {
        LinkAddress[] list = [Addr("fe80::1", RouteScope.Link), Addr("fd00::1"), Addr("10.0.0.9"), Addr("10.0.0.10")];
        Assert.Equal(IPAddress.Parse("10.0.0.9"), Underlay.SelectLocal(list, null));
        Assert.Equal(IPAddress.Parse("fd00::1"), Underlay.SelectLocal(list, AddressFamily.InterNetworkV6));
        Assert.Null(Underlay.SelectLocal([Addr("fe80::1", RouteScope.Link)], null));
    }

    [Fact]
    public void Default_route_device_is_the_lowest_metric_default()
    {
        RouteEntry[] routes =
        [
            new() { Destination = IPAddress.Parse("10.0.0.0"), PrefixLength = 24, OutputIndex = 2 },
            new() { Destination = IPAddress.Any, PrefixLength = 0, OutputIndex = 3, Metric = 200 },
            new() { Destination = IPAddress.Any, PrefixLength = 0, OutputIndex = 4, Metric = 100 },
        ];
        Assert.Equal(4, Underlay.DefaultRouteDevice(routes));
        Assert.Equal(0, Underlay.DefaultRouteDevice(routes[..1]));
    }

    [Fact]
    public void Flood_targets_skip_the_hosts_own_address_so_every_host_can_share_one_peer_list()
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes("""{"cniVersion":"1.0.0","name":"n","type":"vxlan","vni":1,"peers":["10.0.0.1","10.0.0.2","10.0.0.3"]}""");
        var o = VxlanOptions.From(VxlanConfig.Parse(bytes), Cni.Plugins.Bridge.BridgeConfig.Parse(bytes), NetworkConfig.Parse(bytes), CniArgs.Empty);
        var u = new Underlay(new Link { Index = 2, Name = "eth0" }, IPAddress.Parse("10.0.0.2"));
        Assert.Equal([IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.3")], u.FloodTargets(o));
    }
}

public class DeviceCompareTests
{
    private static VxlanSpec Desired() => new("vxlan42", 42)
    {
        Port = 4789, Local = IPAddress.Parse("10.0.0.1"), UnderlayIndex = 2, Learning = false, Ttl = 0, Mtu = 1450,
        Address = PhysicalAddress.Parse("02-00-00-00-00-01"),
    };

    private static Link Actual(VxlanInfo info, int mtu = 1450, string mac = "02-00-00-00-00-01") => new()
    {
        Index = 9, Name = "vxlan42", Kind = "vxlan", Mtu = mtu, Address = PhysicalAddress.Parse(mac), Vxlan = info,
    };

    private static VxlanInfo Matching() => new() { Vni = 42, Port = 4789, Local = IPAddress.Parse("10.0.0.1"), UnderlayIndex = 2 };

    [Fact]
    public void A_matching_device_has_no_drift()
    {
        Assert.True(VxlanDevice.Compare(Actual(Matching()), Desired()).None);
    }

    [Fact]
    public void Port_local_group_underlay_learning_and_ttl_need_a_new_device()
    {
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { Port = 8472 }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { Local = IPAddress.Parse("10.0.0.9") }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { Group = IPAddress.Parse("239.0.0.1") }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { UnderlayIndex = 3 }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { Learning = true }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching() with { Ttl = 5 }), Desired()).FixedAtCreation);
        Assert.Single(VxlanDevice.Compare(Actual(Matching()) with { Kind = "bridge" }, Desired()).FixedAtCreation);
    }

    [Fact]
    public void Mtu_and_mac_are_adjusted_in_place()
    {
        var drift = VxlanDevice.Compare(Actual(Matching(), mtu: 1400, mac: "02-00-00-00-00-02"), Desired());
        Assert.Empty(drift.FixedAtCreation);
        Assert.Equal(2, drift.Adjustable.Count);
    }
}

public class NetworkLockTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vxlan-lock-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_held_lock_makes_the_next_acquire_wait_and_time_out()
    {
        using (NetworkLock.Acquire(42, _dir))
        {
            var e = Assert.Throws<CniException>(() => NetworkLock.Acquire(42, _dir, TimeSpan.FromMilliseconds(100)));
            Assert.Equal(ErrorCode.TryAgainLater, e.Code);
            using (NetworkLock.Acquire(43, _dir, TimeSpan.FromMilliseconds(100))) { } // another VNI is independent
        }
        using (NetworkLock.Acquire(42, _dir, TimeSpan.FromMilliseconds(100))) { }
        Assert.True(File.Exists(NetworkLock.PathFor(42, _dir)));
    }
}
