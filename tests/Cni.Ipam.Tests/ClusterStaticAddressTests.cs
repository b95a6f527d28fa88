using System.Text;
using Cni.Ipam.Cluster;

namespace Cni.Ipam.Tests;

/// <summary>
/// Static addresses with cluster-ipam (CNI_ARGS IP=, args.cni.ips, the ips capability), as host-local takes them:
/// from a block this node holds, or from an unclaimed block claimed for this node; never from another node's block.
/// </summary>
public class ClusterStaticAddressTests
{
    private readonly MemoryClusterStore _store = new();
    private readonly DateTimeOffset _now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private const string Blocks = "/sharpcni/ipam/v1/blocks/";
    private const string Claims = "/sharpcni/ipam/v1/claims/";

    private const string V4Pool = """[{"subnet":"10.244.0.0/16","gateway":"10.244.0.1"}]""";
    private const string DualPools = """[{"subnet":"10.244.0.0/16"},{"subnet":"fd00:244::/48"}]""";

    /// <summary>A config with the network-level fields <paramref name="network"/> (e.g. runtimeConfig) and CNI_ARGS.</summary>
    private static ClusterIpamConfig Config(string node = "host1", string pools = V4Pool, string network = "", string? cniArgs = null) =>
        ClusterIpamConfig.Parse(Encoding.UTF8.GetBytes($$$"""
            {"cniVersion":"1.1.0","name":"cluster"{{{network}}},"ipam":{"type":"cluster-ipam",
             "etcd":{"endpoints":["https://10.0.0.1:2379"]},"nodeName":"{{{node}}}","pools":{{{pools}}}}}
            """), "machine", cniArgs);

    private ClusterAllocator Allocator(string node = "host1", string pools = V4Pool, string network = "", string? cniArgs = null) =>
        new(Config(node, pools, network, cniArgs), _store, () => _now);

    private ClusterAllocator Requesting(string ips, string node = "host1", string pools = V4Pool) =>
        Allocator(node, pools, $$""","runtimeConfig":{"ips":{{ips}}}""");

    private static string Addr(IpamAllocation a, int i = 0) => a.Addresses[i].Address.ToString();

    [Fact]
    public void Requested_addresses_are_read_from_cni_args_args_and_the_ips_capability_in_that_order()
    {
        var c = Config(network: ""","args":{"cni":{"ips":["10.244.1.2"]}},"RuntimeConfig":{"IPs":["fd00::5/64"]}""", cniArgs: "K8S_POD_NAME=x;IP=10.244.0.9");
        Assert.Equal(["10.244.0.9", "10.244.1.2", "fd00::5"], c.RequestedAddresses.Select(a => a.ToString()));
        Assert.Empty(Config().RequestedAddresses);
        var e = Assert.Throws<IpamConfigException>(() => Config(network: ""","runtimeConfig":{"ips":["10.244.0.300"]}"""));
        Assert.Contains("runtimeConfig.ips", e.Message);
    }

    [Fact]
    public void A_requested_address_in_a_block_this_node_holds_is_taken()
    {
        Allocator().Add("c1", "eth0");
        int claims = _store.Keys(Claims).Count;
        var a = Requesting("""["10.244.0.40"]""").Add("c2", "eth0");
        Assert.Equal("10.244.0.40/16", Addr(a));
        Assert.Equal("10.244.0.1", a.Addresses[0].Gateway.ToString());
        Assert.Contains("\"40\":\"c2/eth0\"", _store.Text(Blocks + "host1/10.244.0.0-26"));
        Assert.Equal(claims, _store.Keys(Claims).Count);
        // Automatic allocation goes round it.
        var seen = new HashSet<string>();
        for (int i = 0; i < 40; i++) Assert.True(seen.Add(Addr(Allocator().Add($"a{i}", "eth0"))));
        Assert.DoesNotContain("10.244.0.40/16", seen);
    }

    [Fact]
    public void A_requested_address_in_an_unclaimed_block_claims_that_block_for_this_node()
    {
        var a = Requesting("""["10.244.3.7/24"]""").Add("c1", "eth0"); // a prefix length given with it is ignored
        Assert.Equal("10.244.3.7/16", Addr(a));
        Assert.Equal([Claims + "10.244.0.0-16/10.244.3.0-26"], _store.Keys(Claims));
        Assert.Equal("host1", _store.Text(Claims + "10.244.0.0-16/10.244.3.0-26"));
        Assert.Contains("\"7\":\"c1/eth0\"", _store.Text(Blocks + "host1/10.244.3.0-26"));
        Assert.Equal(1, _store.Commits);
        // Another node cannot take an address of that block now.
        var e = Assert.Throws<AddressUnavailableException>(() => Requesting("""["10.244.3.8"]""", node: "host2").Add("c2", "eth0"));
        Assert.Contains("node host1 holds", e.Message);
    }

    [Fact]
    public void A_requested_address_in_another_nodes_block_fails_with_strict_affinity_and_writes_nothing()
    {
        Allocator("host2").Add("b1", "eth0");
        int commits = _store.Commits, keys = _store.Data.Count;
        var e = Assert.Throws<AddressUnavailableException>(() => Requesting("""["10.244.0.9"]""").Add("c1", "eth0"));
        Assert.Contains("10.244.0.9", e.Message);
        Assert.Contains("block 10.244.0.0/26, which node host2 holds", e.Message);
        Assert.Contains("strict affinity", e.Message);
        Assert.Equal(commits, _store.Commits);
        Assert.Equal(keys, _store.Data.Count);
    }

    [Fact]
    public void A_requested_address_held_by_another_attachment_fails_clearly()
    {
        var first = Allocator().Add("c1", "eth0");
        Assert.Equal("10.244.0.2/16", Addr(first));
        int commits = _store.Commits;
        var e = Assert.Throws<AddressUnavailableException>(() => Requesting("""["10.244.0.2"]""").Add("c2", "eth0"));
        Assert.Equal("cluster-ipam: requested IP address 10.244.0.2 is already allocated to c1/eth0 on node host1", e.Message);
        Assert.Equal(commits, _store.Commits);
        Assert.Null(Allocator().Check("c2", "eth0"));
        // Released, it can be asked for again.
        Allocator().Del("c1", "eth0");
        Assert.Equal("10.244.0.2/16", Addr(Requesting("""["10.244.0.2"]""").Add("c2", "eth0")));
    }

    [Fact]
    public void A_repeated_add_returns_the_recorded_address_and_refuses_a_different_request()
    {
        var ipam = Requesting("""["10.244.5.5"]""");
        var first = ipam.Add("c1", "eth0");
        int commits = _store.Commits;
        Assert.Equal(Addr(first), Addr(ipam.Add("c1", "eth0")));
        Assert.Equal(Addr(first), Addr(Allocator().Add("c1", "eth0"))); // without the request: still the recorded one
        Assert.Equal(commits, _store.Commits);
        var e = Assert.Throws<AddressUnavailableException>(() => Requesting("""["10.244.5.6"]""").Add("c1", "eth0"));
        Assert.Contains("10.244.5.5 has been allocated to c1/eth0; cannot also allocate requested 10.244.5.6", e.Message);
        Assert.NotNull(Allocator().Check("c1", "eth0"));
    }

    [Theory]
    [InlineData("""["10.245.0.9"]""", "requested IP address 10.245.0.9 is not in any pool (10.244.0.0/16)")]
    [InlineData("""["10.244.0.9","10.244.0.10"]""", "failed to allocate all requested IPs: 10.244.0.10 (each requested address must fall in a different pool)")]
    [InlineData("""["10.244.0.1"]""", "requested IP address 10.244.0.1 is the gateway of pool 10.244.0.0/16")]
    [InlineData("""["10.244.0.0"]""", "requested IP address 10.244.0.0 is the network address of pool 10.244.0.0/16")]
    [InlineData("""["10.244.255.255"]""", "requested IP address 10.244.255.255 is the broadcast address of pool 10.244.0.0/16")]
    public void Impossible_requests_fail_before_the_store_is_asked(string ips, string message)
    {
        var e = Assert.Throws<AddressUnavailableException>(() => Requesting(ips).Add("c1", "eth0"));
        Assert.Contains(message, e.Message);
        Assert.Equal(0, _store.Reads + _store.StaleReads);
        Assert.Empty(_store.Data);
    }

    [Fact]
    public void Dual_stack_with_one_requested_address_allocates_the_other_family_automatically()
    {
        var a = Requesting("""["fd00:244::1:5"]""", pools: DualPools).Add("c1", "eth0");
        Assert.Equal("10.244.0.2/16", Addr(a));
        Assert.Equal("fd00:244::1:5/48", Addr(a, 1));
        Assert.Contains(Claims + "fd00:244::-48/fd00:244::1:0-122", _store.Keys(Claims));
        Assert.Equal(1, _store.Commits);
        var both = Requesting("""["fd00:244::1:6","10.244.0.9"]""", pools: DualPools).Add("c2", "eth0");
        Assert.Equal("10.244.0.9/16", Addr(both));
        Assert.Equal("fd00:244::1:6/48", Addr(both, 1));
    }

    [Fact]
    public void Two_attachments_racing_for_one_requested_address_get_it_once()
    {
        var winner = Requesting("""["10.244.7.7"]""");
        var loser = Requesting("""["10.244.7.7"]""");
        _store.BeforeCommit = () => winner.Add("w", "eth0");
        var e = Assert.Throws<AddressUnavailableException>(() => loser.Add("l", "eth0"));
        Assert.Contains("already allocated to w/eth0", e.Message);
        Assert.Equal("10.244.7.7/16", Addr(Allocator().Add("w", "eth0")));
        Assert.Single(_store.Keys(Claims));
    }
}
