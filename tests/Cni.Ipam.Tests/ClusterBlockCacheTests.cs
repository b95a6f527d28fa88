using System.Text;
using Cni.Ipam.Cluster;

namespace Cni.Ipam.Tests;

/// <summary>
/// The node's block hint: ADD plans on it and goes straight to its commit (one round trip instead of a read and a
/// commit); a stale hint costs one failed commit, whose failure branch brings the current state, never a duplicate.
/// </summary>
public class ClusterBlockCacheTests
{
    private readonly MemoryClusterStore _store = new();
    private readonly DateTimeOffset _now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private sealed class MemoryCache : INodeBlockCache
    {
        public IReadOnlyList<StoredValue>? Blocks;
        public int Saves;
        public IReadOnlyList<StoredValue>? Load() => Blocks;
        public void Save(IReadOnlyList<StoredValue> blocks)
        {
            Blocks = blocks;
            Saves++;
        }
    }

    private static ClusterIpamConfig Config(string node = "host1", string extra = "") =>
        ClusterIpamConfig.Parse(Encoding.UTF8.GetBytes($$$"""
            {"cniVersion":"1.1.0","name":"cluster","ipam":{"type":"cluster-ipam",
             "etcd":{"endpoints":["https://10.0.0.1:2379"]},"nodeName":"{{{node}}}","pools":[{"subnet":"10.9.0.0/24","blockSize":28}]{{{extra}}}}}
            """), "machine");

    private ClusterAllocator Allocator(INodeBlockCache? cache, string node = "host1") => new(Config(node), _store, () => _now, cache: cache);

    private static string Addr(IpamAllocation a) => a.Addresses[0].Address.ToString();

    private int AllReads => _store.Reads + _store.StaleReads;

    [Fact]
    public void With_a_warm_cache_an_add_is_one_commit_and_no_read()
    {
        var cache = new MemoryCache();
        var ipam = Allocator(cache);
        Assert.Equal("10.9.0.2/24", Addr(ipam.Add("c1", "eth0")));
        Assert.NotNull(cache.Blocks);
        int reads = AllReads, commits = _store.Commits;
        Assert.Equal("10.9.0.3/24", Addr(ipam.Add("c2", "eth0")));
        Assert.Equal("10.9.0.4/24", Addr(Allocator(cache).Add("c3", "eth0")));
        Assert.Equal(reads, AllReads);
        Assert.Equal(commits + 2, _store.Commits);
        Assert.Equal(0, _store.FailedCommits);
        // The hint follows the store: the block as stored, at its revision.
        var block = Assert.Single(cache.Blocks!);
        Assert.Equal(_store.Data[block.Key].Mod, block.ModRevision);
        Assert.Equal(_store.Text(block.Key), Encoding.UTF8.GetString(block.Value));
    }

    [Fact]
    public void A_stale_cache_costs_one_failed_commit_that_brings_the_current_state_and_never_a_duplicate()
    {
        var cache = new MemoryCache();
        Allocator(cache).Add("c1", "eth0");
        var stale = cache.Blocks;
        Allocator(null).Add("other", "eth0"); // another call on this node, without the hint: 10.9.0.3
        cache.Blocks = stale;
        int reads = AllReads;
        var a = Allocator(cache).Add("c2", "eth0");
        Assert.Equal("10.9.0.4/24", Addr(a));
        Assert.Equal(1, _store.FailedCommits);
        Assert.Equal(1, _store.FailureReads);
        Assert.Equal(reads, AllReads); // no separate read: the failed commit answered with the state
    }

    [Fact]
    public void A_repeated_add_with_a_cache_returns_the_recorded_address()
    {
        var cache = new MemoryCache();
        var ipam = Allocator(cache);
        var first = ipam.Add("c1", "eth0");
        int commits = _store.Commits;
        Assert.Equal(Addr(first), Addr(ipam.Add("c1", "eth0")));
        Assert.Equal(commits, _store.Commits);
        Assert.Single(_store.Keys("/sharpcni/ipam/v1/attachments/"));
    }

    [Fact]
    public void A_cache_that_shows_every_block_full_makes_the_add_read_before_it_claims_a_block()
    {
        var cache = new MemoryCache();
        var ipam = Allocator(cache);
        for (int i = 0; i < 14; i++) ipam.Add($"c{i}", "eth0"); // 10.9.0.0/28 full (.0 network, .1 gateway)
        var full = cache.Blocks;
        Allocator(null).Del("c5", "eth0"); // room again, but the hint does not know it
        cache.Blocks = full;
        var a = Allocator(cache).Add("late", "eth0");
        Assert.Equal("10.9.0.7/24", Addr(a)); // the freed address, no second block
        Assert.Single(_store.Keys("/sharpcni/ipam/v1/claims/"));
    }

    [Fact]
    public void Del_keeps_the_cache_current_so_the_next_add_needs_no_read()
    {
        var cache = new MemoryCache();
        var ipam = Allocator(cache);
        ipam.Add("c1", "eth0");
        ipam.Add("c2", "eth0");
        ipam.Del("c1", "eth0");
        int reads = AllReads;
        Assert.Equal("10.9.0.4/24", Addr(ipam.Add("c3", "eth0")));
        Assert.Equal(reads, AllReads);
        Assert.Equal(0, _store.FailedCommits);
    }

    [Fact]
    public void A_hint_of_another_node_or_an_unreadable_block_is_ignored()
    {
        var cache = new MemoryCache();
        Allocator(cache, "host2").Add("b1", "eth0");
        // host1 given host2's hint: it must not allocate in host2's block.
        var a = Allocator(cache).Add("a1", "eth0");
        Assert.Equal("10.9.0.16/24", Addr(a));
        cache.Blocks = [new StoredValue("/sharpcni/ipam/v1/blocks/host1/10.9.0.16-28", "not json"u8.ToArray(), 1)];
        Assert.Equal("10.9.0.17/24", Addr(Allocator(cache).Add("a2", "eth0")));
    }

    [Fact]
    public void The_file_cache_round_trips_and_survives_a_bad_file_and_an_unwritable_directory()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"cipam-cache-{Guid.NewGuid():N}");
        try
        {
            var file = new NodeBlockFile(dir, Config());
            Assert.Null(file.Load());
            Assert.StartsWith(Path.Combine(dir, "host1-"), file.FilePath);
            var ipam = Allocator(file);
            ipam.Add("c1", "eth0");
            var loaded = file.Load();
            Assert.NotNull(loaded);
            var block = Assert.Single(loaded!);
            Assert.Equal(_store.Data[block.Key].Mod, block.ModRevision);
            int reads = AllReads;
            ipam.Add("c2", "eth0");
            Assert.Equal(reads, AllReads);
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            // Another etcd cluster with the same prefix and node: another file.
            var other = ClusterIpamConfig.Parse(Encoding.UTF8.GetBytes("""
                {"cniVersion":"1.1.0","name":"cluster","ipam":{"etcd":{"endpoints":["https://10.0.0.2:2379"]},"nodeName":"host1","pools":[{"subnet":"10.9.0.0/24"}]}}
                """), "m");
            var elsewhere = new NodeBlockFile(dir, other);
            Assert.NotEqual(file.FilePath, elsewhere.FilePath);
            File.WriteAllText(file.FilePath, "{broken");
            Assert.Null(file.Load());
            Assert.Equal("10.9.0.4/24", Addr(ipam.Add("c3", "eth0"))); // reads instead
            var nowhere = new NodeBlockFile("/proc/no-such-dir", Config());
            nowhere.Save([]); // ignored
            Assert.Null(nowhere.Load());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_save_removes_the_temporary_files_of_processes_killed_before_their_rename_and_no_other()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"cipam-cache-{Guid.NewGuid():N}");
        try
        {
            var file = new NodeBlockFile(dir, Config());
            Directory.CreateDirectory(dir);
            // What the fault run found: an ADD killed after creating its temporary file (at its ftruncate, write or
            // rename) left FILE.PID.tmp for good. No PID is above pid_max (at most 4194304).
            string killed = $"{file.FilePath}.99999999.tmp";
            string killedToo = $"{file.FilePath}.99999998.tmp";
            string live = $"{file.FilePath}.1.tmp"; // PID 1 runs in every PID namespace: a save in progress
            string ours = $"{file.FilePath}.{Environment.ProcessId}.tmp";
            string otherNode = Path.Combine(dir, "host2-0123456789abcdef.json.99999999.tmp");
            string notAPid = $"{file.FilePath}.x1.tmp";
            foreach (var f in new[] { killed, killedToo, live, otherNode, notAPid }) File.WriteAllText(f, "{");
            Allocator(file).Add("c1", "eth0");
            Assert.False(File.Exists(killed));
            Assert.False(File.Exists(killedToo));
            Assert.False(File.Exists(ours)); // renamed into place
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(otherNode)); // another node's file is that node's business
            Assert.True(File.Exists(notAPid));
            Assert.NotNull(file.Load());

            // Liveness is /proc/PID: with a /proc where PID 1 is gone, its file goes too.
            string proc = Path.Combine(dir, "proc");
            Directory.CreateDirectory(Path.Combine(proc, "7"));
            string seven = $"{file.FilePath}.7.tmp";
            File.WriteAllText(seven, "{");
            file.RemoveAbandonedTemporaryFiles(proc);
            Assert.False(File.Exists(live));
            Assert.True(File.Exists(seven));
            // No directory: nothing to do, no error.
            new NodeBlockFile(Path.Combine(dir, "absent"), Config()).RemoveAbandonedTemporaryFiles();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Cache_dir_defaults_can_be_turned_off_and_must_be_absolute()
    {
        Assert.Equal("/var/lib/cni/cluster-ipam", Config().CacheDir);
        Assert.Null(Config(extra: ""","cacheDir":"" """).CacheDir);
        Assert.Equal("/run/x", Config(extra: ""","cacheDir":"/run/x" """).CacheDir);
        var e = Assert.Throws<IpamConfigException>(() => Config(extra: ""","cacheDir":"rel/dir" """));
        Assert.Contains("absolute", e.Message);
    }
}
