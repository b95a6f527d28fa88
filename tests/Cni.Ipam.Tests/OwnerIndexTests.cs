using System.Diagnostics;
using System.Net;
using System.Text;
using Cni.Ipam;
using Cni.Ipam.Disk;

namespace Cni.Ipam.Tests;

/// <summary>The disk store's owner index (.owners/): used when the stamp matches, rebuilt by a scan when it does not.</summary>
public class OwnerIndexTests : IDisposable
{
    private readonly TempStore _t = new();
    public void Dispose() => _t.Dispose();

    private const string V4 = """[{"subnet":"10.2.0.0/24"}]""";

    private (HostLocalIpam Ipam, DiskReservationStore Store) Open()
    {
        var store = _t.Store();
        return (new HostLocalIpam(_t.Config(V4), store), store);
    }

    private static string Add(HostLocalIpam ipam, string id, string ifname = "eth0") =>
        ipam.Add(new IpamRequest(id, ifname)).Addresses[0].Address.Address.ToString();

    private string OwnersDir => Path.Combine(_t.NetDir, DiskReservationStore.OwnersDirName);

    private string IndexText() =>
        string.Concat(Directory.GetFiles(OwnersDir, DiskReservationStore.BucketPrefix + "*").Order().Select(File.ReadAllText));

    [Fact]
    public void Repeated_add_and_del_are_answered_from_the_index_without_a_scan()
    {
        var (ipam, store) = Open();
        string a1 = Add(ipam, "c1");
        Assert.Equal(1, store.FullScans); // no stamp yet: the first call scans and builds the index
        string a2 = Add(ipam, "c2");
        Assert.Equal(a1, Add(ipam, "c1"));
        Assert.NotEqual(a1, a2);
        Assert.Equal([IPAddress.Parse(a2)], ipam.Check(new IpamRequest("c2", "eth0")));
        Assert.Equal([IPAddress.Parse(a1)], ipam.Del(new IpamRequest("c1", "eth0")));
        Assert.Empty(ipam.Del(new IpamRequest("c1", "eth0")));
        Assert.Equal(1, store.FullScans);
        Assert.DoesNotContain(a1 + "\t", IndexText());
        Assert.Contains(a2 + "\tc2\teth0\n", IndexText());

        // A fresh process (new store instance) trusts the stamp too.
        var (ipam2, store2) = Open();
        Assert.Equal(a2, Add(ipam2, "c2"));
        Assert.Equal(0, store2.FullScans);
    }

    [Fact]
    public void Address_file_written_by_someone_else_is_found_by_one_rescan()
    {
        var (ipam, store) = Open();
        Add(ipam, "c1");
        // What the reference's Reserve does: create the address file; it knows nothing of the index.
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.77"), "ref1\r\neth0");
        int before = store.FullScans;
        Assert.Equal("10.2.0.77", Add(ipam, "ref1"));
        Assert.Equal(before + 1, store.FullScans);
        Assert.Equal("10.2.0.77", Add(ipam, "ref1"));
        Assert.Equal(before + 1, store.FullScans);
        Assert.Contains("10.2.0.77\tref1\teth0\n", IndexText());
    }

    [Fact]
    public void Address_file_removed_by_someone_else_is_noticed()
    {
        var (ipam, store) = Open();
        string a1 = Add(ipam, "c1");
        File.Delete(Path.Combine(_t.NetDir, a1)); // the reference's DEL
        Assert.Empty(ipam.Check(new IpamRequest("c1", "eth0")));
        Assert.Equal(2, store.FullScans);
        Assert.DoesNotContain(a1 + "\t", IndexText());
    }

    [Fact]
    public void Hint_whose_address_file_names_another_owner_is_not_believed()
    {
        var (ipam, store) = Open();
        string a1 = Add(ipam, "c1");
        // Rewritten in place: the directory's mtime stays, so the stamp still matches and only the check catches it.
        File.WriteAllText(Path.Combine(_t.NetDir, a1), "other\r\neth0");
        string again = Add(ipam, "c1");
        Assert.NotEqual(a1, again);
        Assert.Equal(2, store.FullScans);
        Assert.Equal([IPAddress.Parse(a1)], ipam.Check(new IpamRequest("other", "eth0")));
    }

    [Fact]
    public void Crash_after_the_reservation_before_the_index_update_costs_a_scan_not_correctness()
    {
        var (ipam, _) = Open();
        Add(ipam, "c1");
        // State a crash between link() and the index write leaves: the reservation exists, the index and stamp are old.
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.9"), "c9\r\neth0");
        var (ipam2, store2) = Open();
        Assert.Equal("10.2.0.9", Add(ipam2, "c9"));
        Assert.Equal(1, store2.FullScans);
    }

    [Fact]
    public void Crash_while_writing_the_index_leaves_an_untrusted_index()
    {
        var (ipam, _) = Open();
        string a1 = Add(ipam, "c1");
        string a2 = Add(ipam, "c2");
        // A half-written bucket and a leftover temporary file; the stamp is what the crashed writer never got to.
        foreach (var f in Directory.GetFiles(OwnersDir, DiskReservationStore.BucketPrefix + "*")) File.WriteAllText(f, "garbage");
        File.WriteAllText(Path.Combine(OwnersDir, "tmp.999999.1"), "partial");
        var (ipam2, store2) = Open();
        Assert.Equal(a1, Add(ipam2, "c1"));
        Assert.Equal(a2, Add(ipam2, "c2"));
        Assert.Equal(1, store2.FullScans);
        Assert.False(File.Exists(Path.Combine(OwnersDir, "tmp.999999.1")));

        File.Delete(Path.Combine(OwnersDir, DiskReservationStore.StampFileName));
        var (ipam3, store3) = Open();
        Assert.Equal(a1, Add(ipam3, "c1"));
        Assert.Equal(1, store3.FullScans);
    }

    [Fact]
    public void Legacy_container_only_reservation_is_indexed_for_every_interface()
    {
        Directory.CreateDirectory(_t.NetDir);
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.8"), "old");
        var (ipam, store) = Open();
        Assert.Equal("10.2.0.8", Add(ipam, "old", "eth3"));
        Assert.Equal([IPAddress.Parse("10.2.0.8")], ipam.Check(new IpamRequest("old", "eth1")));
        Assert.Single(ipam.Del(new IpamRequest("old", "eth0")));
        Assert.Equal(1, store.FullScans);
        Assert.False(File.Exists(Path.Combine(_t.NetDir, "10.2.0.8")));
    }

    [Fact]
    public void Gc_works_from_the_index_and_removes_released_entries()
    {
        Directory.CreateDirectory(_t.NetDir);
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.200"), ""); // stale: no owner
        var (ipam, store) = Open();
        string keep = Add(ipam, "keep");
        string gone = Add(ipam, "gone");
        var released = ipam.Gc([new Attachment("keep", "eth0")]);
        Assert.Equal(["10.2.0.200", gone], released.Select(r => r.Address.ToString()).Order());
        Assert.Equal(1, store.FullScans);
        Assert.Equal(["10.2.0.2"], _t.Names().Where(n => n.StartsWith("10.")).ToArray());
        Assert.Equal("10.2.0.2", keep);
        Assert.Equal(keep + "\tkeep\teth0\n", IndexText().Replace(IndexHeaderLine(), ""));

        // After someone else writes, GC itself rebuilds the index from a scan.
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.99"), "ref\r\neth0");
        Assert.Single(ipam.Gc([new Attachment("keep", "eth0")]));
        Assert.Equal(2, store.FullScans);
        Assert.DoesNotContain("10.2.0.99", IndexText());
    }

    private string IndexHeaderLine() =>
        File.ReadAllLines(Directory.GetFiles(OwnersDir, DiskReservationStore.BucketPrefix + "*")[0])[0] + "\n";

    [Fact]
    public void Status_does_not_cost_the_next_add_a_scan()
    {
        var (ipam, store) = Open();
        Add(ipam, "c1");
        ipam.Status();
        Add(ipam, "c2");
        Assert.Equal(1, store.FullScans);
    }

    [Fact]
    public void Index_files_never_look_like_reservations()
    {
        var (ipam, _) = Open();
        // A container ID that is itself an address: the reference's fallback DEL matches file content "10.2.0.2".
        Add(ipam, "10.2.0.2");
        foreach (var f in Directory.GetFiles(OwnersDir))
        {
            string content = File.ReadAllText(f).Trim();
            Assert.False(IPAddress.TryParse(Path.GetFileName(f), out _), f);
            Assert.NotEqual("10.2.0.2", content);
            Assert.DoesNotContain("\r\n", content);
        }
    }

    [Fact]
    public void Killed_writers_leave_an_index_that_agrees_with_a_scan()
    {
        string config = _t.ConfigJson("""[{"subnet":"10.4.0.0/24"}]""");
        var rnd = new Random(11);
        var deadline = Stopwatch.StartNew();
        for (int round = 0; round < 8 && deadline.Elapsed < TimeSpan.FromSeconds(40); round++)
        {
            using var p = ProcessStoreTests.StartHelper(config, $"k{round}", "loop");
            Assert.Equal("ready", p.StandardOutput.ReadLine());
            Thread.Sleep(rnd.Next(5, 60));
            p.Kill();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(10)));

            // Whatever the index says, every attachment's addresses as we report them are exactly what the files say.
            var store = _t.Store();
            var ipam = new HostLocalIpam(_t.Config("""[{"subnet":"10.4.0.0/24"}]"""), store);
            var files = _t.Names().Where(n => n.StartsWith("10."))
                .Select(n => (Address: n, Owner: File.ReadAllText(Path.Combine(_t.NetDir, n)).Split("\r\n")[0])).ToList();
            for (int r = 0; r <= round; r++)
                for (int i = 0; i < 50; i++)
                {
                    string id = $"k{r}-{i}";
                    var expected = files.Where(f => f.Owner == id).Select(f => f.Address).Order().ToArray();
                    Assert.Equal(expected, ipam.Check(new IpamRequest(id, "eth0")).Select(a => a.ToString()).Order().ToArray());
                }
            Assert.True(store.FullScans <= 1);
            // The second look (same store state, index just written or trusted) needs no scan.
            var store2 = _t.Store();
            new HostLocalIpam(_t.Config("""[{"subnet":"10.4.0.0/24"}]"""), store2).Check(new IpamRequest("k0-1", "eth0"));
            Assert.Equal(0, store2.FullScans);
        }
    }
}

public class CoarseClockWaitTests
{
    [Fact]
    public void Wait_past_the_current_tick_ends_within_a_few_ticks()
    {
        var now = DateTimeOffset.UtcNow;
        long ticks = now.ToUnixTimeMilliseconds();
        var sw = Stopwatch.StartNew();
        Assert.True(DiskReservationStore.WaitPastTick(ticks / 1000, ticks % 1000 * 1_000_000 + 999_999));
        // A few milliseconds when the machine is idle; the bound leaves room for a loaded CI machine's scheduling
        // delays while still catching a wait for a whole second or for ever.
        Assert.InRange(sw.ElapsedMilliseconds, 0, 500);
        // A time far in the future is given up on (clock stepped back) rather than waited for.
        Assert.False(DiskReservationStore.WaitPastTick(now.ToUnixTimeSeconds() + 3600, 0));
    }
}

public class OwnerIndexOddFilesTests : IDisposable
{
    private readonly TempStore _t = new();
    public void Dispose() => _t.Dispose();

    [Fact]
    public void Foreign_owner_with_a_tab_keeps_the_store_on_full_scans_but_correct()
    {
        Directory.CreateDirectory(_t.NetDir);
        File.WriteAllText(Path.Combine(_t.NetDir, "10.2.0.40"), "we\tird\r\neth0");
        var store = _t.Store();
        var ipam = new HostLocalIpam(_t.Config("""[{"subnet":"10.2.0.0/24"}]"""), store);
        string a = ipam.Add(new IpamRequest("c1", "eth0")).Addresses[0].Address.Address.ToString();
        Assert.Equal(a, ipam.Add(new IpamRequest("c1", "eth0")).Addresses[0].Address.Address.ToString());
        Assert.Equal(2, store.FullScans);
        Assert.False(File.Exists(Path.Combine(_t.NetDir, DiskReservationStore.OwnersDirName, DiskReservationStore.StampFileName)));
    }
}
