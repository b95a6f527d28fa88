using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Route;

namespace Cni.Linux.Tests;

public sealed class AddressRouteNeighbourTests : NamespacePair
{
    private readonly int _host;
    private readonly int _container;

    public AddressRouteNeighbourTests()
    {
        HostRoutes.AddLink(new VethSpec("veth-h", "eth0") { PeerNamespace = Container });
        _host = HostRoutes.GetLink("veth-h")!.Index;
        _container = ContainerRoutes.GetLink("eth0")!.Index;
        HostRoutes.SetLinkUp(_host);
        ContainerRoutes.SetLinkUp(_container);
    }

    private static IPAddress Ip(string text) => IPAddress.Parse(text);

    [Fact]
    public void Addresses_are_added_listed_and_deleted_per_link_and_family()
    {
        ContainerRoutes.AddAddress(_container, Ip("10.22.0.5"), 24, RouteSocket.BroadcastOf(Ip("10.22.0.5"), 24));
        ContainerRoutes.AddAddress(_container, Ip("fd00:22::5"), 64, noDad: true);

        LinkAddress v4 = Assert.Single(ContainerRoutes.ListAddresses(_container, AddressFamily.InterNetwork));
        Assert.Equal(Ip("10.22.0.5"), v4.Address);
        Assert.Equal(24, v4.PrefixLength);
        Assert.Equal(Ip("10.22.0.255"), v4.Broadcast);

        LinkAddress v6 = ContainerRoutes.ListAddresses(_container, AddressFamily.InterNetworkV6)
            .Single(a => a.Address.Equals(Ip("fd00:22::5")));
        Assert.Equal(64, v6.PrefixLength);
        Assert.NotEqual(0u, v6.Flags & RouteSocket.IFA_F_NODAD);
        Assert.Contains("10.22.0.5/24 brd 10.22.0.255", ContainerNs.Exec("ip", "addr", "show", "eth0"));

        var e = Assert.Throws<NetlinkException>(() => ContainerRoutes.AddAddress(_container, Ip("10.22.0.5"), 24));
        Assert.Equal(Errno.EEXIST, e.Errno);

        Assert.True(ContainerRoutes.DeleteAddress(_container, Ip("10.22.0.5"), 24));
        Assert.False(ContainerRoutes.DeleteAddress(_container, Ip("10.22.0.5"), 24));
        Assert.Empty(ContainerRoutes.ListAddresses(_container, AddressFamily.InterNetwork));
        Assert.Empty(HostRoutes.ListAddresses(_host, AddressFamily.InterNetwork)); // other namespace untouched
    }

    [Fact]
    public void Broadcast_sets_all_host_bits()
    {
        Assert.Equal(Ip("10.1.255.255"), RouteSocket.BroadcastOf(Ip("10.1.2.3"), 16));
        Assert.Equal(Ip("10.1.2.3"), RouteSocket.BroadcastOf(Ip("10.1.2.3"), 32));
        Assert.Equal(Ip("255.255.255.255"), RouteSocket.BroadcastOf(Ip("10.1.2.3"), 0));
    }

    [Fact]
    public void Route_mtu_and_advmss_metrics_are_written_and_read_back()
    {
        ContainerRoutes.AddAddress(_container, Ip("10.22.0.5"), 24);
        ContainerRoutes.AddAddress(_container, Ip("fd00:22::5"), 64, noDad: true);
        ContainerRoutes.AddRoute(new RouteEntry { Destination = Ip("10.97.0.0"), PrefixLength = 16, Gateway = Ip("10.22.0.1"), Mtu = 1400, AdvertisedMss = 1360 });
        ContainerRoutes.AddRoute(new RouteEntry { Destination = Ip("10.96.0.0"), PrefixLength = 16, Gateway = Ip("10.22.0.1"), Mtu = 1280 });
        ContainerRoutes.AddRoute(new RouteEntry { Destination = Ip("fd00:97::"), PrefixLength = 64, Gateway = Ip("fd00:22::1"), Mtu = 1300, AdvertisedMss = 1240 });

        IReadOnlyList<RouteEntry> v4 = ContainerRoutes.ListRoutes(AddressFamily.InterNetwork);
        RouteEntry both = v4.Single(r => r.Destination.Equals(Ip("10.97.0.0")));
        Assert.Equal((1400u, 1360u), (both.Mtu, both.AdvertisedMss));
        RouteEntry mtuOnly = v4.Single(r => r.Destination.Equals(Ip("10.96.0.0")));
        Assert.Equal(1280u, mtuOnly.Mtu);
        Assert.Null(mtuOnly.AdvertisedMss);
        Assert.Null(v4.Single(r => r.PrefixLength == 24).Mtu); // the connected route has no metrics
        RouteEntry v6 = ContainerRoutes.ListRoutes(AddressFamily.InterNetworkV6).Single(r => r.Destination.Equals(Ip("fd00:97::")));
        Assert.Equal((1300u, 1240u), (v6.Mtu, v6.AdvertisedMss));

        // What iproute2 reads back from the kernel.
        Assert.Contains("10.97.0.0/16 via 10.22.0.1 dev eth0 mtu 1400 advmss 1360", ContainerNs.Exec("ip", "route"));
        Assert.Contains("fd00:97::/64 via fd00:22::1 dev eth0 metric 1024 mtu 1300 advmss 1240", ContainerNs.Exec("ip", "-6", "route"));
        Assert.True(ContainerRoutes.DeleteRoute(new RouteEntry { Destination = Ip("10.97.0.0"), PrefixLength = 16 }));
    }

    [Fact]
    public void Default_and_prefix_routes_are_added_replaced_listed_and_deleted()
    {
        ContainerRoutes.AddAddress(_container, Ip("10.22.0.5"), 24);
        ContainerRoutes.AddRoute(RouteEntry.Default(Ip("10.22.0.1")));
        ContainerRoutes.AddRoute(new RouteEntry
        {
            Destination = Ip("10.99.0.0"),
            PrefixLength = 16,
            Gateway = Ip("10.22.0.1"),
            Metric = 50,
            PreferredSource = Ip("10.22.0.5"),
        });
        ContainerRoutes.AddRoute(new RouteEntry { Destination = Ip("10.98.0.0"), PrefixLength = 16, OutputIndex = _container, Table = 100 });

        IReadOnlyList<RouteEntry> main = ContainerRoutes.ListRoutes(AddressFamily.InterNetwork);
        RouteEntry byDefault = main.Single(r => r.PrefixLength == 0);
        Assert.Equal(Ip("10.22.0.1"), byDefault.Gateway);
        Assert.Equal(_container, byDefault.OutputIndex);
        Assert.Equal(RouteScope.Universe, byDefault.Scope);
        RouteEntry prefix = main.Single(r => r.Destination.Equals(Ip("10.99.0.0")));
        Assert.Equal(50u, prefix.Metric);
        Assert.Equal(Ip("10.22.0.5"), prefix.PreferredSource);
        Assert.DoesNotContain(main, r => r.Destination.Equals(Ip("10.98.0.0")));

        RouteEntry inTable = Assert.Single(ContainerRoutes.ListRoutes(AddressFamily.InterNetwork, table: 100));
        Assert.Equal(RouteScope.Link, inTable.Scope);
        Assert.Contains("10.98.0.0/16 dev eth0", ContainerNs.Exec("ip", "route", "show", "table", "100"));

        var e = Assert.Throws<NetlinkException>(() => ContainerRoutes.AddRoute(RouteEntry.Default(Ip("10.22.0.1"))));
        Assert.Equal(Errno.EEXIST, e.Errno);
        ContainerRoutes.ReplaceRoute(RouteEntry.Default(Ip("10.22.0.254")));
        Assert.Equal(Ip("10.22.0.254"), ContainerRoutes.ListRoutes(AddressFamily.InterNetwork).Single(r => r.PrefixLength == 0).Gateway);
        Assert.Contains("default via 10.22.0.254 dev eth0", ContainerNs.Exec("ip", "route"));

        Assert.True(ContainerRoutes.DeleteRoute(RouteEntry.Default(Ip("10.22.0.254"))));
        Assert.False(ContainerRoutes.DeleteRoute(RouteEntry.Default(Ip("10.22.0.254"))));
        Assert.True(ContainerRoutes.DeleteRoute(new RouteEntry { Destination = Ip("10.98.0.0"), PrefixLength = 16, Table = 100 }));
        Assert.DoesNotContain(ContainerRoutes.ListRoutes(AddressFamily.InterNetwork), r => r.PrefixLength == 0);
    }

    [Fact]
    public void An_onlink_route_reaches_a_gateway_outside_every_prefix_and_reads_back_onlink()
    {
        // The kernel checks an onlink gateway against the local table, which exists once lo is up (as on any host).
        ContainerRoutes.SetLinkUp(ContainerRoutes.GetLink("lo")!.Index);
        // No address on the link: without RTNH_F_ONLINK the kernel refuses a gateway it has no route to.
        var plain = new RouteEntry { Destination = Ip("10.77.1.0"), PrefixLength = 26, Gateway = Ip("192.0.2.9"), OutputIndex = _container };
        var e = Assert.Throws<NetlinkException>(() => ContainerRoutes.AddRoute(plain));
        Assert.Equal(Errno.ENETUNREACH, e.Errno);

        ContainerRoutes.ReplaceRoute(plain with { OnLink = true });
        var read = Assert.Single(ContainerRoutes.ListRoutes(AddressFamily.InterNetwork), r => r.PrefixLength == 26);
        Assert.True(read.OnLink);
        Assert.Equal(Ip("192.0.2.9"), read.Gateway);
        Assert.Contains("10.77.1.0/26 via 192.0.2.9 dev eth0 onlink", ContainerNs.Exec("ip", "route", "show"));
        Assert.True(ContainerRoutes.DeleteRoute(plain));
        Assert.DoesNotContain(ContainerRoutes.ListRoutes(AddressFamily.InterNetwork), r => r.PrefixLength == 26);
    }

    [Fact]
    public void Ipv6_default_route_goes_through_a_link_local_gateway()
    {
        ContainerRoutes.AddAddress(_container, Ip("fd00:22::5"), 64, noDad: true);
        ContainerRoutes.AddRoute(RouteEntry.Default(Ip("fe80::1"), _container));
        RouteEntry route = ContainerRoutes.ListRoutes(AddressFamily.InterNetworkV6).Single(r => r.PrefixLength == 0);
        Assert.Equal(Ip("fe80::1"), route.Gateway);
        Assert.Equal(IPAddress.IPv6Any, route.Destination);
        Assert.True(ContainerRoutes.DeleteRoute(RouteEntry.Default(Ip("fe80::1"), _container)));
    }

    [Fact]
    public void Permanent_arp_and_ndp_entries_are_set_listed_and_deleted()
    {
        var mac = PhysicalAddress.Parse("02-00-00-00-00-AA");
        ContainerRoutes.SetNeighbour(_container, Ip("10.22.0.9"), mac);
        ContainerRoutes.SetNeighbour(_container, Ip("fd00:22::9"), mac);
        ContainerRoutes.SetNeighbour(_container, Ip("10.22.0.9"), mac); // replace is idempotent

        IReadOnlyList<Neighbour> entries = ContainerRoutes.ListNeighbours(_container);
        Neighbour v4 = entries.Single(n => Ip("10.22.0.9").Equals(n.Address));
        Assert.True(v4.IsPermanent);
        Assert.Equal(mac, v4.HardwareAddress);
        Assert.Contains(entries, n => Ip("fd00:22::9").Equals(n.Address) && n.IsPermanent);
        Assert.Contains("10.22.0.9 dev eth0 lladdr 02:00:00:00:00:aa PERMANENT", ContainerNs.Exec("ip", "neigh", "show"));

        Assert.True(ContainerRoutes.DeleteNeighbour(_container, Ip("10.22.0.9")));
        Assert.False(ContainerRoutes.DeleteNeighbour(_container, Ip("10.22.0.9")));
        Assert.DoesNotContain(ContainerRoutes.ListNeighbours(_container, AddressFamily.InterNetwork), n => Ip("10.22.0.9").Equals(n.Address));
    }

    [Fact]
    public void Vxlan_fdb_entries_include_head_end_replication_with_zero_mac()
    {
        HostRoutes.AddLink(new VxlanSpec("vxlan0", 100) { Port = 4789, Learning = false });
        int vxlan = HostRoutes.GetLink("vxlan0")!.Index;
        var zero = PhysicalAddress.Parse("00-00-00-00-00-00");
        var peer = PhysicalAddress.Parse("02-00-00-00-00-BB");

        HostRoutes.AddFdbEntry(vxlan, zero, Ip("192.0.2.10"), append: true);
        HostRoutes.AddFdbEntry(vxlan, zero, Ip("192.0.2.11"), append: true);
        HostRoutes.AddFdbEntry(vxlan, peer, Ip("192.0.2.10"));

        IReadOnlyList<Neighbour> fdb = HostRoutes.ListFdbEntries(vxlan);
        Assert.Equal(2, fdb.Count(n => zero.Equals(n.HardwareAddress)));
        Neighbour entry = fdb.Single(n => peer.Equals(n.HardwareAddress));
        Assert.Equal(Ip("192.0.2.10"), entry.Address);
        Assert.True(entry.IsSelf);
        Assert.True(entry.IsPermanent);
        string shown = HostNs.Exec("bridge", "fdb", "show", "dev", "vxlan0");
        Assert.Contains("00:00:00:00:00:00 dst 192.0.2.11", shown);

        Assert.True(HostRoutes.DeleteFdbEntry(vxlan, zero, Ip("192.0.2.11")));
        Assert.Single(HostRoutes.ListFdbEntries(vxlan), n => zero.Equals(n.HardwareAddress));
        Assert.True(HostRoutes.DeleteFdbEntry(vxlan, zero, Ip("192.0.2.10")));
        // The kernel treats deleting a missing remote of an existing MAC as done; a missing MAC is "not found".
        Assert.False(HostRoutes.DeleteFdbEntry(vxlan, zero, Ip("192.0.2.10")));
        Assert.DoesNotContain(HostRoutes.ListFdbEntries(vxlan), n => zero.Equals(n.HardwareAddress));
    }

    [Fact]
    public void Bridge_fdb_entry_is_added_on_a_port()
    {
        HostRoutes.AddLink(new BridgeSpec("br0"));
        HostRoutes.SetLinkMaster(_host, HostRoutes.GetLink("br0")!.Index);
        var mac = PhysicalAddress.Parse("02-00-00-00-00-CC");
        HostRoutes.AddFdbEntry(_host, mac);
        Assert.Contains(HostRoutes.ListFdbEntries(_host), n => mac.Equals(n.HardwareAddress) && n.IsPermanent);
        Assert.True(HostRoutes.DeleteFdbEntry(_host, mac));
    }
}
