using System.Net;
using System.Text;
using Cni.Ipam;
using Cni.Ipam.Disk;

namespace Cni.Ipam.Tests;

public class DiskStoreTests : IDisposable
{
    private readonly TempStore _t = new();
    public void Dispose() => _t.Dispose();

    private const string V4 = """[{"subnet":"10.2.0.0/24"}]""";

    [Fact]
    public void Reservation_files_match_the_reference_byte_for_byte()
    {
        var ipam = _t.Ipam(V4 + "," + """[{"subnet":"2001:db8:0:1::/64"}]""");
        ipam.Add(new IpamRequest("abc123", "eth0"));
        Assert.Equal(["10.2.0.2", "2001:db8:0:1::2", "last_reserved_ip.0", "last_reserved_ip.1", "lock"], _t.Names());
        Assert.Equal("abc123\r\neth0"u8.ToArray(), _t.Bytes("10.2.0.2"));
        Assert.Equal("abc123\r\neth0"u8.ToArray(), _t.Bytes("2001:db8:0:1::2"));
        Assert.Equal("10.2.0.2"u8.ToArray(), _t.Bytes("last_reserved_ip.0"));
        Assert.Equal("2001:db8:0:1::2"u8.ToArray(), _t.Bytes("last_reserved_ip.1"));
        Assert.Empty(_t.Bytes("lock"));
    }

    [Fact]
    public void Reads_reference_files_including_legacy_container_only_ones()
    {
        Directory.CreateDirectory(_t.NetDir);
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.7"), "new\r\neth1");
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.8"), "old\n");
        File.WriteAllText(Path.Combine(_t.NetDir, "last_reserved_ip.0"), "10.2.0.8");
        using var s = _t.Store();
        using (s.Lock())
        {
            Assert.Equal(IPAddress.Parse("10.2.0.8"), s.LastReserved(0));
            var all = s.ListAll().OrderBy(r => r.Address.ToString()).ToList();
            Assert.Equal(new Reservation(IPAddress.Parse("10.2.0.7"), "new", "eth1"), all[0]);
            Assert.Equal(new Reservation(IPAddress.Parse("10.2.0.8"), "old", null), all[1]);
            Assert.Equal([IPAddress.Parse("10.2.0.8")], s.GetByOwner("old", "eth0"));
        }
        var ipam = _t.Ipam(V4);
        Assert.Equal("10.2.0.9/24", ipam.Add(new IpamRequest("c1", "eth0")).Addresses[0].Address.ToString());
        Assert.Single(ipam.Del(new IpamRequest("old", "eth0")));
        Assert.False(File.Exists(Path.Combine(_t.NetDir, "10.2.0.8")));
    }

    [Fact]
    public void Without_O_TMPFILE_a_named_temporary_file_is_linked_and_removed()
    {
        bool before = DiskReservationStore.TmpFileUnsupported;
        DiskReservationStore.TmpFileUnsupported = true;
        try
        {
            using var s = _t.Store();
            using (s.Lock())
            {
                Assert.True(s.TryReserve(IPAddress.Parse("10.2.0.5"), "a", "eth0", 0));
                Assert.False(s.TryReserve(IPAddress.Parse("10.2.0.5"), "b", "eth0", 0));
                Assert.True(s.TryReserve(IPAddress.Parse("10.2.0.6"), "b", "eth0", 0));
            }
            Assert.Equal("a\r\neth0"u8.ToArray(), _t.Bytes("10.2.0.5"));
            Assert.Equal("b\r\neth0"u8.ToArray(), _t.Bytes("10.2.0.6"));
            Assert.DoesNotContain(_t.Names(), n => n.StartsWith(DiskReservationStore.TempPrefix));
        }
        finally
        {
            DiskReservationStore.TmpFileUnsupported = before;
        }
    }

    [Fact]
    public void A_torn_last_reserved_hint_reads_as_none_and_allocation_goes_on()
    {
        Directory.CreateDirectory(_t.NetDir);
        File.WriteAllText(Path.Combine(_t.NetDir, "last_reserved_ip.0"), "10.2.");
        using (var s = _t.Store())
        using (s.Lock())
            Assert.Null(s.LastReserved(0));
        var ipam = _t.Ipam(V4);
        Assert.Equal("10.2.0.2/24", ipam.Add(new IpamRequest("c1", "eth0")).Addresses[0].Address.ToString());
        Assert.Equal("10.2.0.2"u8.ToArray(), _t.Bytes("last_reserved_ip.0"));
    }

    [Fact]
    public void Taken_address_is_not_reserved_twice()
    {
        using var s = _t.Store();
        using var _ = s.Lock();
        Assert.True(s.TryReserve(IPAddress.Parse("10.2.0.5"), "a", "eth0", 0));
        Assert.False(s.TryReserve(IPAddress.Parse("10.2.0.5"), "b", "eth0", 0));
        Assert.Equal("a\r\neth0"u8.ToArray(), _t.Bytes("10.2.0.5"));
    }

    [Fact]
    public void Empty_or_unreadable_reservation_is_stale_and_gc_clears_it()
    {
        var ipam = _t.Ipam(V4);
        ipam.Add(new IpamRequest("live", "eth0"));
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.50"), "");
        Directory.CreateDirectory(Path.Combine(_t.NetDir, "not-a-reservation"));
        File.WriteAllText(Path.Combine(_t.NetDir, DiskReservationStore.TempPrefix + "999.1"), "dead\r\neth0");
        // DEL of anyone leaves the ownerless file alone; GC removes it and the crash leftover.
        ipam.Del(new IpamRequest("someone", "eth0"));
        Assert.True(File.Exists(Path.Combine(_t.NetDir, "10.2.0.50")));
        var released = ipam.Gc([new Attachment("live", "eth0")]);
        Assert.True(Assert.Single(released).IsStale);
        Assert.Equal(["10.2.0.2", "last_reserved_ip.0", "lock"], _t.Names());
    }

    [Fact]
    public void Static_request_of_an_address_held_on_disk_fails()
    {
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(_t.NetDir).FullName, "10.2.0.9"), "x\r\neth0");
        var ipam = _t.Ipam(V4, cniArgs: "IP=10.2.0.9");
        Assert.Throws<AddressUnavailableException>(() => ipam.Add(new IpamRequest("c1", "eth0")));
        Assert.Equal("x\r\neth0"u8.ToArray(), _t.Bytes("10.2.0.9"));
    }

    [Fact]
    public void Lock_wait_is_bounded_and_throws_the_try_again_exception()
    {
        using var holder = _t.Store();
        using var held = holder.Lock();
        using var waiter = _t.Store(TimeSpan.FromMilliseconds(300));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<StoreLockTimeoutException>(() => waiter.Lock());
        Assert.InRange(clock.ElapsedMilliseconds, 250, 3000);
        Assert.Contains("try again later", e.Message);
        held.Dispose();
        using (waiter.Lock()) { }
    }

    [Fact]
    public void Lock_timeout_comes_from_the_config()
    {
        using var holder = _t.Store();
        Directory.CreateDirectory(_t.NetDir);
        using var held = holder.Lock();
        var ipam = _t.Ipam(V4, ",\"lockTimeoutSeconds\":0.2");
        Assert.Throws<StoreLockTimeoutException>(() => ipam.Add(new IpamRequest("c1", "eth0")));
    }

    [Fact]
    public void Status_fails_when_the_store_cannot_be_created()
    {
        var file = Path.Combine(_t.DataDir, "file");
        File.WriteAllText(file, "");
        var c = IpamConfig.Parse(Encoding.UTF8.GetBytes(
            "{\"name\":\"net1\",\"ipam\":{\"dataDir\":\"" + file + "\",\"subnet\":\"10.0.0.0/24\"}}"));
        Assert.Throws<StoreIOException>(() => HostLocalIpam.OnDisk(c).Status());
        _t.Ipam(V4).Status();
    }

    [Fact]
    public void Threads_with_their_own_store_instances_never_share_an_address()
    {
        const int threads = 6, each = 25;
        var config = _t.Config("""[{"subnet":"10.2.0.0/24"}]""");
        var results = new IPAddress[threads][];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                var ipam = HostLocalIpam.OnDisk(config);
                results[t] = Enumerable.Range(0, each)
                    .Select(i => ipam.Add(new IpamRequest($"t{t}-{i}", "eth0")).Addresses[0].Address.Address).ToArray();
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.True(w.Join(TimeSpan.FromSeconds(60))));
        Assert.Empty(failures);
        var all = results.SelectMany(r => r).ToList();
        Assert.Equal(threads * each, all.Distinct().Count());
        Assert.Equal(threads * each, _t.Names().Count(n => n.StartsWith("10.")));
    }

    [Fact]
    public void Ipv6_store_walk_finds_reservations_by_owner()
    {
        var ipam = _t.Ipam("""[{"subnet":"fd00:a::/120"}]""");
        for (int i = 0; i < 5; i++) ipam.Add(new IpamRequest($"c{i}", "eth0"));
        Assert.Equal([IPAddress.Parse("fd00:a::4")], ipam.Check(new IpamRequest("c2", "eth0")));
        Assert.Equal([IPAddress.Parse("fd00:a::4")], ipam.Del(new IpamRequest("c2", "eth0")));
        Assert.Empty(ipam.Check(new IpamRequest("c2", "eth0")));
    }
}
