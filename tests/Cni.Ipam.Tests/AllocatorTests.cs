using System.Net;
using Cni.Ipam;
using static Cni.Ipam.Tests.TestConfigs;

namespace Cni.Ipam.Tests;

public class AllocatorTests
{
    private readonly MemoryReservationStore _store = new();

    private HostLocalIpam Ipam(IpamConfig c) => new(c, _store);
    private HostLocalIpam Ipam(params string[] sets) => new(Ranges(sets), _store);

    private static string Addr(IpamAllocation a, int i = 0) => a.Addresses[i].Address.ToString();
    private static IpamRequest Req(string id, string ifname = "eth0") => new(id, ifname);

    [Fact]
    public void First_address_skips_network_and_gateway()
    {
        var a = Ipam("""[{"subnet":"10.0.0.0/24"}]""").Add(Req("c1"));
        Assert.Equal("10.0.0.2/24", Addr(a));
        Assert.Equal("10.0.0.1", a.Addresses[0].Gateway.ToString());
        Assert.Equal(0, a.Addresses[0].RangeSetIndex);
        Assert.False(a.Addresses[0].IsV6);
    }

    [Fact]
    public void Allocation_continues_after_the_last_reserved_address()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""");
        _store.Last[0] = IPAddress.Parse("10.0.0.100");
        Assert.Equal("10.0.0.101/24", Addr(ipam.Add(Req("c1"))));
        ipam.Del(Req("c1"));
        // Released, but round robin moves on rather than handing it back.
        Assert.Equal("10.0.0.102/24", Addr(ipam.Add(Req("c2"))));
    }

    [Fact]
    public void Allocation_wraps_around_to_the_range_start()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.12"}]""");
        _store.Last[0] = IPAddress.Parse("10.0.0.12");
        Assert.Equal("10.0.0.10/24", Addr(ipam.Add(Req("c1"))));
        Assert.Equal("10.0.0.11/24", Addr(ipam.Add(Req("c2"))));
        Assert.Equal("10.0.0.12/24", Addr(ipam.Add(Req("c3"))));
    }

    [Fact]
    public void Last_reserved_outside_the_set_restarts_at_the_first_range()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.10"}]""");
        _store.Last[0] = IPAddress.Parse("192.168.0.5");
        Assert.Equal("10.0.0.10/24", Addr(ipam.Add(Req("c1"))));
    }

    [Fact]
    public void Iteration_walks_the_ranges_of_a_set_in_order()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.253"},{"subnet":"10.0.5.0/24","rangeEnd":"10.0.5.3"}]""");
        var got = Enumerable.Range(0, 4).Select(i => Addr(ipam.Add(Req("c" + i)))).ToList();
        // 10.0.5.1 is that subnet's gateway.
        Assert.Equal(["10.0.0.253/24", "10.0.0.254/24", "10.0.5.2/24", "10.0.5.3/24"], got);
        var e = Assert.Throws<AddressUnavailableException>(() => ipam.Add(Req("c9")));
        Assert.Equal("no IP addresses available in range set 0: 10.0.0.253-10.0.0.254,10.0.5.1-10.0.5.3", e.Message);
    }

    [Fact]
    public void Network_broadcast_and_gateway_are_never_handed_out_even_inside_the_range()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/30","rangeStart":"10.0.0.0","rangeEnd":"10.0.0.3","gateway":"10.0.0.2"}]""");
        Assert.Equal("10.0.0.1/30", Addr(ipam.Add(Req("c1"))));
        Assert.Throws<AddressUnavailableException>(() => ipam.Add(Req("c2")));
        Assert.Single(_store.Files);
    }

    [Fact]
    public void Excluded_addresses_and_cidrs_are_skipped()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24","rangeEnd":"10.0.0.20","exclude":["10.0.0.2","10.0.0.4/30","10.0.0.9/32"]}]""");
        var got = Enumerable.Range(0, 4).Select(i => Addr(ipam.Add(Req("c" + i)))).ToList();
        Assert.Equal(["10.0.0.3/24", "10.0.0.8/24", "10.0.0.10/24", "10.0.0.11/24"], got);
    }

    [Fact]
    public void Huge_excluded_ipv6_block_is_jumped_not_walked()
    {
        var ipam = Ipam("""[{"subnet":"fd00::/64","exclude":["fd00::/65"]}]""");
        var a = ipam.Add(Req("c1"));
        Assert.Equal("fd00::8000:0:0:0/64", Addr(a));
        Assert.True(a.Addresses[0].IsV6);
    }

    [Fact]
    public void Range_set_fully_excluded_reports_no_addresses_even_when_starting_inside_the_exclusion()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24","rangeEnd":"10.0.0.20","exclude":["10.0.0.0/27"]}]""");
        _store.Last[0] = IPAddress.Parse("10.0.0.7");
        Assert.Throws<AddressUnavailableException>(() => ipam.Add(Req("c1")));
    }

    [Fact]
    public void Static_request_in_range_is_reserved()
    {
        var c = Parse(Net("\"subnet\":\"10.0.0.0/24\""), "IP=10.0.0.77");
        var a = Ipam(c).Add(Req("c1"));
        Assert.Equal("10.0.0.77/24", Addr(a));
        Assert.Equal("10.0.0.77", _store.Last[0].ToString());
    }

    [Fact]
    public void Static_request_already_taken_fails_clearly()
    {
        _store.Files[IPAddress.Parse("10.0.0.77")] = ("other", "eth0");
        var c = Parse(Net("\"subnet\":\"10.0.0.0/24\""), "IP=10.0.0.77");
        var e = Assert.Throws<AddressUnavailableException>(() => Ipam(c).Add(Req("c1")));
        Assert.Equal("requested IP address 10.0.0.77 is not available in range set 10.0.0.1-10.0.0.254", e.Message);
    }

    [Theory]
    [InlineData("IP=10.9.0.5", "10.9.0.5 is not in any range set")]
    [InlineData("IP=10.0.0.1", "requested ip 10.0.0.1 is subnet's gateway")]
    [InlineData("IP=10.0.0.3", "requested ip 10.0.0.3 is excluded (10.0.0.3/32)")]
    [InlineData("IP=10.0.0.5,10.0.0.6", "failed to allocate all requested IPs: 10.0.0.6")]
    public void Static_request_that_cannot_be_served_fails_and_reserves_nothing(string args, string message)
    {
        var c = Parse(Net("\"subnet\":\"10.0.0.0/24\",\"exclude\":[\"10.0.0.3\"]"), args);
        var e = Assert.Throws<AddressUnavailableException>(() => Ipam(c).Add(Req("c1")));
        Assert.Contains(message, e.Message);
        Assert.Empty(_store.Files);
    }

    [Fact]
    public void Static_requests_each_match_their_own_range_set()
    {
        var c = Parse(Net("\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]",
            "\"runtimeConfig\":{\"ips\":[\"fd00::99/64\",\"10.0.0.99/24\"]}"));
        var a = Ipam(c).Add(Req("c1"));
        Assert.Equal("10.0.0.99/24", Addr(a, 0));
        Assert.Equal("fd00::99/64", Addr(a, 1));
    }

    [Fact]
    public void Dual_stack_hands_out_one_address_per_range_set()
    {
        var a = Ipam("""[{"subnet":"10.0.0.0/24"}]""", """[{"subnet":"fd00:1::/64","gateway":"fd00:1::fe"}]""").Add(Req("c1"));
        Assert.Equal(2, a.Addresses.Count);
        Assert.Equal("10.0.0.2/24", Addr(a, 0));
        Assert.Equal("fd00:1::1/64", Addr(a, 1));
        Assert.Equal("fd00:1::fe", IPAddressMath.Format(a.Addresses[1].Gateway));
        Assert.Equal(1, a.Addresses[1].RangeSetIndex);
        Assert.Equal("fd00:1::1", IPAddressMath.Format(_store.Last[1]));
    }

    [Fact]
    public void Repeated_add_returns_the_existing_addresses_and_reserves_nothing_new()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""", """[{"subnet":"fd00::/64"}]""");
        var first = ipam.Add(Req("c1"));
        var again = ipam.Add(Req("c1"));
        Assert.Equal(first.Addresses, again.Addresses);
        Assert.Equal(2, _store.Files.Count);
        // Another interface of the same container is another attachment.
        Assert.Equal("10.0.0.3/24", Addr(ipam.Add(Req("c1", "net1"))));
    }

    [Fact]
    public void Failure_in_a_later_range_set_releases_what_this_add_reserved()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""", """[{"subnet":"10.1.0.0/30"}]""");
        ipam.Add(Req("c1"));
        var e = Assert.Throws<AddressUnavailableException>(() => ipam.Add(Req("c2")));
        Assert.Contains("range set 1: 10.1.0.1-10.1.0.2", e.Message);
        Assert.Equal(2, _store.Files.Count);
        Assert.All(_store.Files.Values, v => Assert.Equal("c1", v.Id));
    }

    [Fact]
    public void Del_releases_only_the_attachment_and_succeeds_when_nothing_is_held()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""");
        ipam.Add(Req("c1"));
        ipam.Add(Req("c1", "net1"));
        Assert.Single(ipam.Del(Req("c1")));
        Assert.Equal("net1", Assert.Single(_store.Files).Value.IfName);
        Assert.Empty(ipam.Del(Req("c1")));
        Assert.Empty(ipam.Del(Req("never")));
    }

    [Fact]
    public void Check_finds_the_attachment_and_legacy_container_only_reservations()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""");
        ipam.Add(Req("c1"));
        Assert.Single(ipam.Check(Req("c1")));
        Assert.Empty(ipam.Check(Req("c2")));
        _store.Files[IPAddress.Parse("10.0.0.50")] = ("old", null);
        Assert.Single(ipam.Check(Req("old", "anything")));
    }

    [Fact]
    public void Gc_releases_everything_not_in_the_valid_list_and_stale_reservations()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""");
        ipam.Add(Req("keep"));
        ipam.Add(Req("drop"));
        ipam.Add(Req("keep", "net1"));
        _store.Files[IPAddress.Parse("10.0.0.50")] = (null, null);
        _store.Files[IPAddress.Parse("10.0.0.51")] = ("keep", null);
        _store.Files[IPAddress.Parse("10.0.0.52")] = ("gone", null);
        var released = ipam.Gc([new Attachment("keep", "eth0")]);
        Assert.Equal(["10.0.0.3", "10.0.0.4", "10.0.0.50", "10.0.0.52"], released.Select(r => r.Address.ToString()).Order());
        Assert.Equal(["10.0.0.2", "10.0.0.51"], _store.Files.Keys.Select(k => k.ToString()).Order());
    }

    [Theory]
    [InlineData("../x", "eth0")]
    [InlineData("c1", "eth0/../../x")]
    [InlineData("c1", "")]
    [InlineData("c1", "..")]
    [InlineData("c1", "a b")]
    [InlineData("c1", "abcdefghijklmnop")]
    public void Names_that_could_escape_the_store_are_refused(string id, string ifname)
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""");
        Assert.Throws<IpamConfigException>(() => ipam.Add(Req(id, ifname)));
        Assert.Throws<IpamConfigException>(() => ipam.Del(Req(id, ifname)));
        Assert.Empty(_store.Files);
    }

    [Fact]
    public void Each_operation_takes_the_lock_once()
    {
        var ipam = Ipam("""[{"subnet":"10.0.0.0/24"}]""", """[{"subnet":"fd00::/64"}]""");
        ipam.Add(Req("c1"));
        Assert.Equal(1, _store.LockCount);
        Assert.False(_store.Locked);
    }

    [Fact]
    public void Routes_and_dns_are_returned()
    {
        var dir = Directory.CreateTempSubdirectory("ipam-resolv");
        try
        {
            var resolv = Path.Combine(dir.FullName, "resolv.conf");
            File.WriteAllText(resolv, "nameserver 10.0.0.53\nsearch cluster.local\n");
            var c = Parse(Net($"\"subnet\":\"10.0.0.0/24\",\"resolvConf\":\"{resolv}\",\"routes\":[{{\"dst\":\"0.0.0.0/0\"}}]"));
            var a = Ipam(c).Add(Req("c1"));
            Assert.Equal("0.0.0.0/0", Assert.Single(a.Routes).Destination.ToString());
            Assert.Equal(["10.0.0.53"], a.Dns!.Nameservers);
        }
        finally
        {
            dir.Delete(true);
        }
    }
}
