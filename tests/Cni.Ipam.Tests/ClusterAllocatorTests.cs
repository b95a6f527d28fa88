using System.Collections.Concurrent;
using System.Text;
using Cni.Ipam.Cluster;

namespace Cni.Ipam.Tests;

public class ClusterAllocatorTests
{
    private readonly MemoryClusterStore _store = new();
    private DateTimeOffset _now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    internal static ClusterIpamConfig Config(string node = "host1", string pools = """[{"subnet":"10.244.0.0/16","gateway":"10.244.0.1"}]""",
        string extra = "") =>
        ClusterIpamConfig.Parse(Encoding.UTF8.GetBytes($$$"""
            {"cniVersion":"1.1.0","name":"cluster","ipam":{"type":"cluster-ipam",
             "etcd":{"endpoints":["https://10.0.0.1:2379"]},"nodeName":"{{{node}}}","pools":{{{pools}}}{{{extra}}}}}
            """), "machine");

    private ClusterAllocator Allocator(string node = "host1", string? pools = null, string extra = "") =>
        new(pools is null ? Config(node, extra: extra) : Config(node, pools, extra), _store, () => _now);

    private static string Addr(IpamAllocation a, int i = 0) => a.Addresses[i].Address.ToString();

    private const string Blocks = "/sharpcni/ipam/v1/blocks/";
    private const string Claims = "/sharpcni/ipam/v1/claims/";
    private const string Attachments = "/sharpcni/ipam/v1/attachments/";

    [Fact]
    public void First_add_claims_the_first_block_and_skips_network_and_gateway()
    {
        var a = Allocator().Add("c1", "eth0");
        Assert.Equal("10.244.0.2/16", Addr(a));
        Assert.Equal("10.244.0.1", a.Addresses[0].Gateway.ToString());
        Assert.Equal([Claims + "10.244.0.0-16/10.244.0.0-26"], _store.Keys(Claims));
        Assert.Equal("host1", _store.Text(Claims + "10.244.0.0-16/10.244.0.0-26"));
        Assert.Equal([Blocks + "host1/10.244.0.0-26"], _store.Keys(Blocks));
        Assert.Equal([Attachments + "host1/c1/eth0"], _store.Keys(Attachments));
        Assert.Contains("\"2\":\"c1/eth0\"", _store.Text(Blocks + "host1/10.244.0.0-26"));
    }

    [Fact]
    public void Repeated_add_for_the_same_attachment_returns_the_same_address()
    {
        var ipam = Allocator();
        var first = ipam.Add("c1", "eth0");
        int commits = _store.Commits;
        Assert.Equal(Addr(first), Addr(ipam.Add("c1", "eth0")));
        Assert.Equal(commits, _store.Commits);
        Assert.NotEqual(Addr(first), Addr(ipam.Add("c1", "net1")));
    }

    [Fact]
    public void A_full_block_makes_the_node_claim_the_next_free_one()
    {
        var ipam = Allocator(pools: """[{"subnet":"10.9.0.0/24","blockSize":28}]""");
        var got = new List<string>();
        // Block 10.9.0.0/28 loses .0 (network) and .1 (default gateway): 14 addresses; then 10.9.0.16/28.
        for (int i = 0; i < 15; i++) got.Add(Addr(ipam.Add($"c{i}", "eth0")));
        Assert.Equal("10.9.0.2/24", got[0]);
        Assert.Equal("10.9.0.15/24", got[13]);
        Assert.Equal("10.9.0.16/24", got[14]);
        Assert.Equal(2, _store.Keys(Blocks + "host1/").Count);
    }

    [Fact]
    public void Nodes_never_share_a_block_or_an_address()
    {
        var a = Allocator("host1");
        var b = Allocator("host2");
        var seen = new HashSet<string>();
        for (int i = 0; i < 100; i++)
        {
            Assert.True(seen.Add(Addr(a.Add($"a{i}", "eth0"))));
            Assert.True(seen.Add(Addr(b.Add($"b{i}", "eth0"))));
        }
        var claims = _store.Keys(Claims);
        Assert.Equal(4, claims.Count); // 100 addresses each: two /26 blocks per node
        Assert.Equal(2, claims.Count(k => _store.Text(k) == "host1"));
        // Every address sits in a block of the node that got it.
        foreach (var key in _store.Keys(Blocks))
        {
            var block = BlockRecord.Decode(_store.Data[key].Value);
            Assert.StartsWith($"{Blocks}{block.Node}/", key);
            foreach (var (_, handle) in block.Allocations)
                Assert.Equal(block.Node == "host1" ? 'a' : 'b', handle[0]);
        }
    }

    [Fact]
    public void Concurrent_adds_on_two_nodes_against_one_store_hand_out_distinct_addresses()
    {
        var results = new ConcurrentBag<string>();
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var ipam = new ClusterAllocator(Config(i % 2 == 0 ? "host1" : "host2"), _store, () => _now);
            results.Add(Addr(ipam.Add($"c{i}", "eth0")));
        });
        Assert.Equal(200, results.Distinct().Count());
        int entries = 0;
        foreach (var key in _store.Keys(Blocks)) entries += BlockRecord.Decode(_store.Data[key].Value).Allocations.Count;
        Assert.Equal(200, entries);
        Assert.Equal(200, _store.Keys(Attachments).Count);
    }

    [Fact]
    public void A_lost_race_for_a_block_is_retried_with_the_new_state()
    {
        var ipam = Allocator("host1");
        // host2 takes the same address of the same block between host1's read and its commit.
        _store.BeforeCommit = () => Allocator("host2").Add("other", "eth0");
        var a = ipam.Add("c1", "eth0");
        Assert.Equal(1, _store.FailedCommits);
        Assert.Equal("10.244.0.64/16", Addr(a)); // host2 won 10.244.0.0/26; host1 claimed the next block
        Assert.Equal("host2", _store.Text(Claims + "10.244.0.0-16/10.244.0.0-26"));
        Assert.Equal("host1", _store.Text(Claims + "10.244.0.0-16/10.244.0.64-26"));
    }

    [Fact]
    public void A_concurrent_add_on_the_same_node_is_retried_without_a_duplicate()
    {
        var ipam = Allocator();
        ipam.Add("c0", "eth0");
        _store.BeforeCommit = () => Allocator().Add("c2", "eth0");
        var a = ipam.Add("c1", "eth0");
        var b = ipam.Add("c2", "eth0");
        Assert.NotEqual(Addr(a), Addr(b));
        Assert.Equal(1, _store.FailedCommits);
    }

    [Fact]
    public void An_exhausted_pool_fails_with_a_clear_error_and_writes_nothing()
    {
        var pools = """[{"subnet":"10.9.0.0/28","blockSize":29}]""";
        var h1 = Allocator("host1", pools);
        var h2 = Allocator("host2", pools);
        for (int i = 0; i < 6; i++) h1.Add($"a{i}", "eth0");   // 10.9.0.0/29 minus network and gateway
        for (int i = 0; i < 7; i++) h2.Add($"b{i}", "eth0");   // 10.9.0.8/29 minus broadcast
        int keys = _store.Data.Count;
        var e = Assert.Throws<PoolExhaustedException>(() => h1.Add("a-last", "eth0"));
        Assert.Contains("pool 10.9.0.0/28 has no free block of /29 left for node host1", e.Message);
        Assert.Contains("release-node", e.Message);
        Assert.Equal(keys, _store.Data.Count);
    }

    [Fact]
    public void Del_releases_only_the_attachment_and_unknown_del_succeeds()
    {
        var ipam = Allocator();
        var a = ipam.Add("c1", "eth0");
        var b = ipam.Add("c2", "eth0");
        ipam.Del("c1", "eth0");
        ipam.Del("c1", "eth0");
        ipam.Del("never", "eth0");
        Assert.Null(ipam.Check("c1", "eth0"));
        Assert.Equal([b.Addresses[0].Address], ipam.Check("c2", "eth0"));
        Assert.Equal([Attachments + "host1/c2/eth0"], _store.Keys(Attachments));
        Assert.NotEqual(Addr(a), Addr(b));
    }

    [Fact]
    public void A_late_del_of_an_old_container_never_frees_an_address_handed_out_again()
    {
        var ipam = Allocator(pools: """[{"subnet":"10.9.0.0/29","blockSize":29}]""");
        var old = ipam.Add("old", "eth0");
        ipam.Del("old", "eth0");
        // Fill the block: the old address goes to someone else.
        var holders = new Dictionary<string, string>();
        for (int i = 0; i < 5; i++) holders[Addr(ipam.Add($"n{i}", "eth0"))] = $"n{i}";
        Assert.True(holders.ContainsKey(Addr(old)));
        ipam.Del("old", "eth0"); // the runtime retries an old DEL
        Assert.NotNull(ipam.Check(holders[Addr(old)], "eth0"));
    }

    [Fact]
    public void Released_addresses_are_not_handed_out_again_at_once()
    {
        var ipam = Allocator();
        var a = ipam.Add("c1", "eth0");
        ipam.Del("c1", "eth0");
        Assert.NotEqual(Addr(a), Addr(ipam.Add("c2", "eth0")));
    }

    [Fact]
    public void Gc_releases_this_nodes_attachments_that_are_not_valid()
    {
        var h1 = Allocator("host1");
        var h2 = Allocator("host2");
        h1.Add("keep", "eth0");
        h1.Add("stale", "eth0");
        h1.Add("stale", "net1");
        h2.Add("stale", "eth0"); // another node's attachment is not this node's business
        h1.Gc([new Attachment("keep", "eth0")]);
        Assert.NotNull(h1.Check("keep", "eth0"));
        Assert.Null(h1.Check("stale", "eth0"));
        Assert.Null(h1.Check("stale", "net1"));
        Assert.NotNull(h2.Check("stale", "eth0"));
        Assert.Equal([Attachments + "host1/keep/eth0", Attachments + "host2/stale/eth0"], _store.Keys(Attachments));
    }

    [Fact]
    public void Empty_blocks_return_to_the_pool_after_the_grace_period()
    {
        var ipam = Allocator(extra: ""","blockGraceSeconds":60""");
        ipam.Add("c1", "eth0");
        ipam.Del("c1", "eth0");
        Assert.Single(_store.Keys(Blocks));        // empty, within its grace period
        _now = _now.AddSeconds(30);
        ipam.Gc([]);
        Assert.Single(_store.Keys(Claims));
        _now = _now.AddSeconds(31);
        ipam.Gc([]);
        Assert.Empty(_store.Keys(Blocks));
        Assert.Empty(_store.Keys(Claims));
    }

    [Fact]
    public void A_block_used_again_within_its_grace_period_stays()
    {
        var ipam = Allocator(extra: ""","blockGraceSeconds":60""");
        ipam.Add("c1", "eth0");
        ipam.Del("c1", "eth0");
        _now = _now.AddSeconds(30);
        ipam.Add("c2", "eth0");
        _now = _now.AddSeconds(600);
        ipam.Gc([new Attachment("c2", "eth0")]);
        Assert.Single(_store.Keys(Blocks));
    }

    [Fact]
    public void Release_node_returns_a_departed_nodes_blocks()
    {
        var h1 = Allocator("host1");
        var h2 = Allocator("host2");
        for (int i = 0; i < 70; i++) h2.Add($"b{i}", "eth0");
        h1.Add("a", "eth0");
        Assert.Equal(2, h1.ReleaseNode("host2"));
        Assert.Equal([Claims + "10.244.0.0-16/10.244.0.128-26"], _store.Keys(Claims));
        Assert.Empty(_store.Keys(Attachments + "host2/"));
        // The freed blocks are claimed again.
        for (int i = 0; i < 70; i++) h1.Add($"a{i}", "eth0");
        Assert.Equal(2, _store.Keys(Blocks + "host1/").Count);
    }

    [Fact]
    public void Dual_stack_pools_give_one_address_each_in_one_commit()
    {
        var ipam = Allocator(pools: """[{"subnet":"10.244.0.0/16"},{"subnet":"fd00:244::/48"}]""");
        var a = ipam.Add("c1", "eth0");
        Assert.Equal("10.244.0.2/16", Addr(a));
        Assert.Equal("fd00:244::2/48", Addr(a, 1));
        Assert.Equal("fd00:244::1", a.Addresses[1].Gateway.ToString());
        Assert.Contains(Blocks + "host1/fd00:244::-122", _store.Keys(Blocks));
        Assert.Equal(1, _store.Commits);
    }

    [Fact]
    public void Without_the_store_add_fails_as_unavailable_and_leaves_nothing()
    {
        var ipam = Allocator();
        _store.Unavailable = true;
        Assert.Throws<ClusterStoreUnavailableException>(() => ipam.Add("c1", "eth0"));
        Assert.Throws<ClusterStoreUnavailableException>(() => ipam.Del("c1", "eth0"));
        _store.Unavailable = false;
        Assert.Empty(_store.Data);
    }

    [Fact]
    public void A_call_never_reads_other_nodes_blocks_or_attachments()
    {
        var reader = new RecordingStore(_store);
        var other = Allocator("host2");
        for (int i = 0; i < 50; i++) other.Add($"b{i}", "eth0");
        Allocator("host1").Add("warm", "eth0");
        var ipam = new ClusterAllocator(Config("host1"), reader, () => _now);
        ipam.Add("c1", "eth0");
        ipam.Del("c1", "eth0");
        Assert.All(reader.Queries, q => Assert.DoesNotContain("host2", q.Key));
        Assert.DoesNotContain(reader.Queries, q => q.Key.StartsWith(Claims, StringComparison.Ordinal));
        // Only ADD's first read may be stale (its commit checks it); DEL reads linearizably.
        Assert.Single(reader.StaleReads);
    }

    [Fact]
    public void A_stale_first_read_that_misses_an_existing_allocation_ends_with_the_same_address()
    {
        var ipam = Allocator();
        var first = ipam.Add("c1", "eth0");
        var stale = new StaleStore(_store);
        var again = new ClusterAllocator(Config("host1"), stale, () => _now).Add("c1", "eth0");
        Assert.Equal(Addr(first), Addr(again));
        // The stale view shows no block: a block is claimed only on a current view, which shows the allocation.
        Assert.Equal(0, _store.FailedCommits);
    }

    [Fact]
    public void A_stale_read_showing_a_released_allocation_is_not_believed()
    {
        var ipam = Allocator();
        var old = ipam.Add("c1", "eth0");
        var snapshot = new SortedDictionary<string, (byte[], long)>(_store.Data, StringComparer.Ordinal);
        ipam.Del("c1", "eth0");
        ipam.Add("c2", "eth0");
        var lagging = new LaggingStore(_store, snapshot);
        var again = new ClusterAllocator(Config("host1"), lagging, () => _now).Add("c1", "eth0");
        Assert.NotEqual(Addr(old), Addr(again)); // the old address is not c1's any more
        Assert.NotNull(ipam.Check("c1", "eth0"));
    }

    /// <summary>Answers stale reads from an old snapshot (a member that lags behind).</summary>
    private sealed class LaggingStore(MemoryClusterStore inner, SortedDictionary<string, (byte[] Value, long Mod)> snapshot) : IClusterStore
    {
        public IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false)
        {
            if (!mayBeStale) return inner.Read(queries);
            var results = new List<IReadOnlyList<StoredValue>>();
            foreach (var q in queries)
                results.Add(snapshot.Where(kv => q.Prefix ? kv.Key.StartsWith(q.Key, StringComparison.Ordinal) : kv.Key == q.Key)
                    .Select(kv => new StoredValue(kv.Key, kv.Value.Value, kv.Value.Mod)).ToList());
            return results;
        }
        public bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) => inner.Commit(expectations, writes);
    }

    /// <summary>Answers stale reads with an empty store (a member that has seen nothing yet).</summary>
    private sealed class StaleStore(IClusterStore inner) : IClusterStore
    {
        public IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false) =>
            mayBeStale ? queries.Select(_ => (IReadOnlyList<StoredValue>)[]).ToList() : inner.Read(queries);
        public bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) => inner.Commit(expectations, writes);
    }

    private sealed class RecordingStore(IClusterStore inner) : IClusterStore
    {
        public readonly List<KeyQuery> Queries = [];
        public IReadOnlyList<IReadOnlyList<StoredValue>> Read(IReadOnlyList<KeyQuery> queries, bool mayBeStale = false)
        {
            Queries.AddRange(queries);
            if (mayBeStale) StaleReads.Add(queries);
            return inner.Read(queries, mayBeStale);
        }
        public readonly List<IReadOnlyList<KeyQuery>> StaleReads = [];
        public bool Commit(IReadOnlyList<Expect> expectations, IReadOnlyList<StoreWrite> writes) => inner.Commit(expectations, writes);
    }
}

public class ClusterIpamConfigTests
{
    private static ClusterIpamConfig Parse(string ipam) =>
        ClusterIpamConfig.Parse(Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.0.0","name":"n","ipam":{{ipam}}}"""), "machine-name");

    [Fact]
    public void Defaults()
    {
        var c = Parse("""{"type":"cluster-ipam","etcd":{"endpoints":["https://a:2379"]},"pools":[{"subnet":"10.244.1.7/16"},{"subnet":"fd00::/48"}]}""");
        Assert.Equal("/sharpcni", c.Prefix);
        Assert.Equal("machine-name", c.NodeName);
        Assert.Equal(26, c.Pools[0].BlockSize);
        Assert.Equal(122, c.Pools[1].BlockSize);
        Assert.Equal("10.244.0.0/16", c.Pools[0].Subnet.ToString());
        Assert.Equal(TimeSpan.FromSeconds(5), c.Etcd.Timeout);
        Assert.Equal(ClusterIpamConfig.DefaultBlockGrace, c.BlockGrace);
        Assert.Equal("/run/sharpcni/etcd.sock", c.Etcd.AgentSocket);
    }

    [Fact]
    public void The_agent_socket_is_read_and_an_empty_one_turns_the_relay_off()
    {
        Assert.Equal("/x/etcd.sock", Parse("""{"etcd":{"endpoints":["https://a:2379"],"AgentSocket":"/x/etcd.sock"},"pools":[{"subnet":"10.0.0.0/16"}]}""").Etcd.AgentSocket);
        Assert.Null(Parse("""{"etcd":{"endpoints":["https://a:2379"],"agentSocket":""},"pools":[{"subnet":"10.0.0.0/16"}]}""").Etcd.AgentSocket);
    }

    [Fact]
    public void Reads_every_field_with_go_style_key_matching()
    {
        var c = Parse("""
            {"type":"cluster-ipam","Etcd":{"endpoints":["https://a:2379","https://b:2379"],"caFile":"/ca","certFile":"/c","keyFile":"/k",
             "username":"u","passwordFile":"/p","timeoutSeconds":2.5},"prefix":"/x/","NODENAME":"n1",
             "pools":[{"subnet":"10.0.0.0/8","blockSize":24,"gateway":"10.0.0.254"}],"routes":[{"dst":"0.0.0.0/0"}],
             "dns":{"nameservers":["10.0.0.10"],"search":["svc"]},"blockGraceSeconds":1}
            """);
        Assert.Equal(2, c.Etcd.Endpoints.Count);
        Assert.Equal(("/ca", "/c", "/k", "u", "/p"), (c.Etcd.CaFile, c.Etcd.CertFile, c.Etcd.KeyFile, c.Etcd.Username, c.Etcd.PasswordFile));
        Assert.Equal(TimeSpan.FromSeconds(2.5), c.Etcd.Timeout);
        Assert.Equal("/x", c.Prefix);
        Assert.Equal("n1", c.NodeName);
        Assert.Equal("10.0.0.254", c.Pools[0].Gateway!.ToString());
        Assert.Single(c.Routes);
        Assert.Equal(["10.0.0.10"], c.Dns!.Nameservers);
        Assert.Equal(TimeSpan.FromSeconds(1), c.BlockGrace);
    }

    [Theory]
    [InlineData("""{"pools":[{"subnet":"10.0.0.0/16"}]}""", "'etcd' is missing")]
    [InlineData("""{"etcd":{"endpoints":[]},"pools":[{"subnet":"10.0.0.0/16"}]}""", "endpoints is empty")]
    [InlineData("""{"etcd":{"endpoints":["10.0.0.1:2379"]},"pools":[{"subnet":"10.0.0.0/16"}]}""", "not an http(s)://host:port URL")]
    [InlineData("""{"etcd":{"endpoints":["https://u:secret@a:2379"]},"pools":[{"subnet":"10.0.0.0/16"}]}""", "not an http(s)://host:port URL")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"],"certFile":"/c"},"pools":[{"subnet":"10.0.0.0/16"}]}""", "go together")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"],"username":"u"},"pools":[{"subnet":"10.0.0.0/16"}]}""", "needs etcd.passwordFile")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"],"timeoutSeconds":0},"pools":[{"subnet":"10.0.0.0/16"}]}""", "timeoutSeconds")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"pools":[]}""", "no pools")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"],"agentSocket":"run/etcd.sock"},"pools":[{"subnet":"10.0.0.0/16"}]}""", "agentSocket must be an absolute path")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"pools":[{"subnet":"10.0.0.0/16","blockSize":15}]}""", "blockSize 15")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"pools":[{"subnet":"10.0.0.0/16","blockSize":31}]}""", "blockSize 31")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"pools":[{"subnet":"10.0.0.0/16","gateway":"10.1.0.1"}]}""", "not an address inside the pool")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"pools":[{"subnet":"10.0.0.0/16"},{"subnet":"10.0.128.0/17"}]}""", "overlap")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"nodeName":"a/b","pools":[{"subnet":"10.0.0.0/16"}]}""", "invalid nodeName")]
    [InlineData("""{"etcd":{"endpoints":["https://a:2379"]},"prefix":"x","pools":[{"subnet":"10.0.0.0/16"}]}""", "must start with '/'")]
    public void Invalid_configs_are_refused_with_a_clear_message(string ipam, string message)
    {
        var e = Assert.Throws<IpamConfigException>(() => Parse(ipam));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("secret", e.Message);
    }
}
