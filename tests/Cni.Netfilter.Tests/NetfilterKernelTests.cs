using System.Net;
using System.Text.Json;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Linux.Netlink;

namespace Cni.Netfilter.Tests;

/// <summary>Objects made through our code, read back with `nft` inside a throwaway namespace and with our own dump.</summary>
public sealed class NetfilterKernelTests : IDisposable
{
    private const string Table = "sharpcni-test";
    private readonly ThrowawayNamespace _ns = new();
    private readonly NftConnection _nft;

    public NetfilterKernelTests() => _nft = _ns.Nft();

    public void Dispose()
    {
        _nft.Dispose();
        _ns.Dispose();
    }

    private static NftTransaction Skeleton() => new NftTransaction()
        .AddTable(new NftTable(NftFamily.Inet, Table))
        .AddChain(new NftChain(NftFamily.Inet, Table, "postrouting") { Base = NftBaseChain.SourceNat(NftHook.Postrouting) })
        .AddChain(new NftChain(NftFamily.Inet, Table, "prerouting") { Base = NftBaseChain.DestinationNat(NftHook.Prerouting) })
        .AddChain(new NftChain(NftFamily.Inet, Table, "forward") { Base = NftBaseChain.Filter(NftHook.Forward), Comment = "filter" })
        .AddChain(new NftChain(NftFamily.Inet, Table, "per-container") { Comment = "cid1 eth0" })
        .AddSet(new NftSet(NftFamily.Inet, Table, "excluded4", NftDataType.Ipv4Address) { Flags = NftSetFlags.Interval, Comment = "subnets" })
        .AddSet(new NftSet(NftFamily.Inet, Table, "containers4", NftDataType.Ipv4Address) { DataType = NftDataType.Verdict })
        .AddSet(new NftSet(NftFamily.Inet, Table, "containers6", NftDataType.Ipv6Address) { DataType = NftDataType.Verdict })
        .AddSet(new NftSet(NftFamily.Inet, Table, "ports", NftDataType.Concat(NftDataType.InetProtocol, NftDataType.InetService))
        {
            DataType = NftDataType.Concat(NftDataType.Ipv4Address, NftDataType.InetService),
        })
        .AddSet(new NftSet(NftFamily.Inet, Table, "bridges", NftDataType.InterfaceName) { Flags = NftSetFlags.Timeout, Timeout = TimeSpan.FromMinutes(5) })
        .AddSet(new NftSet(NftFamily.Inet, Table, "pairs", NftDataType.Concat(NftDataType.InterfaceName, NftDataType.InterfaceName)));

    [KernelFact]
    public void Objects_made_in_one_batch_show_in_nft_list_and_in_our_dump()
    {
        var tx = Skeleton()
            .AddRule(new NftRuleBuilder().SourceVerdictMap(false, "containers4").Build(Table, "postrouting", "dispatch v4"))
            .AddRule(new NftRuleBuilder().SourceVerdictMap(true, "containers6").Build(Table, "postrouting"))
            .AddRule(new NftRuleBuilder().DestinationInSet(false, "excluded4").Return().Build(Table, "per-container", "cid1 eth0"))
            .AddRule(new NftRuleBuilder().MatchDestination(IPAddress.Parse("224.0.0.0"), 4).Return().Build(Table, "per-container", "cid1 eth0"))
            .AddRule(new NftRuleBuilder().MatchSource(IPAddress.Parse("10.88.0.5"), 32).Counter().Masquerade().Build(Table, "per-container", "cid1 eth0"))
            .AddRule(new NftRuleBuilder().MatchL4Proto(IpProto.IPPROTO_TCP).MatchDestinationPort(8080).MatchDestinationLocal()
                .DestinationNat(IPAddress.Parse("10.88.0.5"), 80).Build(Table, "prerouting", "cid1 eth0"))
            .AddRule(new NftRuleBuilder().InterfaceInSet(true, "bridges").MatchOutputInterface("cni0", negate: true).MatchCtStatusDnat().Drop().Build(Table, "forward"))
            .AddRule(new NftRuleBuilder().MatchCtState(NftCt.NF_CT_STATE_ESTABLISHED | NftCt.NF_CT_STATE_RELATED).Accept().Build(Table, "forward"))
            .AddRule(new NftRule(NftFamily.Inet, Table, "forward", [new NftMeta(NftMetaKey.Mark), NftCmp.Equal(NftData.HostU32(0x4000)), NftImmediate.Value(NftData.HostU32(1)), NftMeta.Set(NftMetaKey.Mark, NftRegisters.NFT_REG_1)]))
            .AddElements(NftFamily.Inet, Table, "excluded4", NftSetElement.Prefix(IPAddress.Parse("10.88.0.0"), 16, "cid1 eth0"))
            .AddElements(NftFamily.Inet, Table, "containers4", [new NftSetElement(NftData.Address(IPAddress.Parse("10.88.0.5"))) { Verdict = NftVerdict.Goto("per-container"), Comment = "cid1 eth0" }])
            .AddElements(NftFamily.Inet, Table, "ports", [new NftSetElement(NftData.Concat([IpProto.IPPROTO_TCP], NftData.Port(8080)))
            {
                Data = NftData.Concat(NftData.Address(IPAddress.Parse("10.88.0.5")), NftData.Port(80)),
                Comment = "cid1 eth0",
            }])
            .AddElements(NftFamily.Inet, Table, "bridges", [new NftSetElement(NftData.InterfaceName("cni0")) { Comment = "net1" }])
            .AddElements(NftFamily.Inet, Table, "pairs", [new NftSetElement(NftData.Concat(NftData.InterfaceName("cni0"), NftData.InterfaceName("cni0")))]);
        _nft.Commit(tx);

        string text = _ns.Exec("nft", "list", "table", "inet", Table);
        Assert.Contains("type nat hook postrouting priority srcnat; policy accept;", text);
        Assert.Contains("ip saddr vmap @containers4 comment \"dispatch v4\"", text);
        Assert.Contains("ip6 saddr vmap @containers6", text);
        Assert.Contains("ip daddr @excluded4 return comment \"cid1 eth0\"", text);
        Assert.Contains("ip daddr 224.0.0.0/4 return", text);
        Assert.Contains("ip saddr 10.88.0.5 counter packets 0 bytes 0 masquerade comment \"cid1 eth0\"", text);
        Assert.Contains("tcp dport 8080 fib daddr type local dnat ip to 10.88.0.5:80 comment \"cid1 eth0\"", text);
        Assert.Contains("iifname @bridges oifname != \"cni0\" ct status dnat drop", text);
        Assert.Contains("ct state established,related accept", text);
        Assert.Contains("meta mark 0x00004000 meta mark set 0x00000001", text);
        Assert.Contains("10.88.0.5 comment \"cid1 eth0\" : goto per-container", text);
        Assert.Contains("tcp . 8080 comment \"cid1 eth0\" : 10.88.0.5 . 80", text);
        Assert.Contains("10.88.0.0/16 comment \"cid1 eth0\"", text);
        Assert.Contains("type ifname . ifname", text);
        Assert.Contains("\"cni0\" . \"cni0\"", text);
        Assert.Contains("timeout 5m", text);
        Assert.Contains("comment \"cid1 eth0\"", text);

        // JSON read-back sees the same objects.
        using JsonDocument json = JsonDocument.Parse(_ns.Exec("nft", "-j", "list", "ruleset"));
        var kinds = json.RootElement.GetProperty("nftables").EnumerateArray().SelectMany(o => o.EnumerateObject().Select(p => p.Name)).ToList();
        Assert.Equal(1, kinds.Count(k => k == "table"));
        Assert.Equal(4, kinds.Count(k => k == "chain"));
        Assert.Equal(9, kinds.Count(k => k == "rule"));

        // Our own dump.
        Assert.Contains(_nft.ListTables(NftFamily.Inet), t => t.Name == Table);
        var chains = _nft.ListChains(NftFamily.Inet, Table);
        Assert.Equal(["forward", "per-container", "postrouting", "prerouting"], chains.Select(c => c.Name).Order());
        NftChain post = chains.Single(c => c.Name == "postrouting");
        Assert.Equal(new NftBaseChain("nat", NftHook.Postrouting, 100), post.Base);
        Assert.Equal("cid1 eth0", chains.Single(c => c.Name == "per-container").Comment);
        Assert.True(chains.Single(c => c.Name == "per-container").Use >= 1);

        var rules = _nft.ListRules(NftFamily.Inet, Table, "per-container");
        Assert.Equal(3, rules.Count);
        Assert.All(rules, r => Assert.Equal("cid1 eth0", r.Comment));
        Assert.All(rules, r => Assert.NotEqual(0ul, r.Handle));
        Assert.Contains(rules[2].Expressions, e => e is NftCmp c && c.Data.SequenceEqual(IPAddress.Parse("10.88.0.5").GetAddressBytes()));
        Assert.IsType<NftMasquerade>(rules[2].Expressions[^1]);
        Assert.Equal(9, _nft.ListRules(NftFamily.Inet, Table).Count);

        var sets = _nft.ListSets(NftFamily.Inet, Table);
        Assert.Equal(6, sets.Count);
        Assert.True(sets.Single(s => s.Name == "containers4").DataType!.IsVerdict);
        Assert.Equal("subnets", sets.Single(s => s.Name == "excluded4").Comment);

        var vmap = _nft.ListElements(NftFamily.Inet, Table, "containers4");
        NftSetElement element = Assert.Single(vmap);
        Assert.Equal(NftVerdict.Goto("per-container"), element.Verdict);
        Assert.Equal("cid1 eth0", element.Comment);
        var ports = _nft.ListElements(NftFamily.Inet, Table, "ports");
        Assert.Equal("0a5800050050" + "0000", Convert.ToHexString(Assert.Single(ports).Data!).ToLowerInvariant());
    }

    [KernelFact]
    public void Batch_with_a_failing_element_leaves_nothing_behind()
    {
        var tx = Skeleton()
            .AddRule(new NftRuleBuilder().SourceVerdictMap(false, "containers4").Build(Table, "postrouting"))
            .AddElements(NftFamily.Inet, Table, "containers4", [new NftSetElement(NftData.Address(IPAddress.Parse("10.88.0.9"))) { Verdict = NftVerdict.Goto("no-such-chain") }]);
        var error = Assert.Throws<NetlinkException>(() => _nft.Commit(tx));
        Assert.Equal(Errno.ENOENT, error.Errno);
        Assert.Contains("add element", error.Message);
        Assert.DoesNotContain(Table, _ns.Exec("nft", "list", "tables"));
        Assert.Empty(_nft.ListTables(NftFamily.Inet));
    }

    [KernelFact]
    public void Refusal_carries_errno_and_extended_ack()
    {
        _nft.Commit(Skeleton());
        // A second copy of a set element with a different verdict: EEXIST-style refusal from the kernel.
        var tx = new NftTransaction().AddChain(new NftChain(NftFamily.Inet, Table, "bad") { Base = new NftBaseChain("nat", NftHook.Forward, 0) });
        var error = Assert.Throws<NetlinkException>(() => _nft.Commit(tx));
        Assert.Equal(Errno.EOPNOTSUPP, error.Errno);
        Assert.Contains("add chain inet sharpcni-test bad", error.Message);
        Assert.DoesNotContain("bad", _ns.Exec("nft", "list", "table", "inet", Table));
    }

    [KernelFact]
    public void Rules_are_deleted_by_handle_inserted_by_position_and_chains_flushed()
    {
        _nft.Commit(Skeleton()
            .AddRule(new NftRuleBuilder().MatchSource(IPAddress.Parse("10.0.0.1"), 32).Accept().Build(Table, "forward", "a"))
            .AddRule(new NftRuleBuilder().MatchSource(IPAddress.Parse("10.0.0.3"), 32).Accept().Build(Table, "forward", "c")));
        var rules = _nft.ListRules(NftFamily.Inet, Table, "forward");
        _nft.Commit(new NftTransaction()
            .AddRule(new NftRuleBuilder().MatchSource(IPAddress.Parse("10.0.0.2"), 32).Accept().Build(Table, "forward", "b") with { Position = rules[0].Handle })
            .InsertRule(new NftRuleBuilder().Drop().Build(Table, "forward", "first")));
        Assert.Equal(["first", "a", "b", "c"], _nft.ListRules(NftFamily.Inet, Table, "forward").Select(r => r.Comment));

        _nft.Commit(new NftTransaction().DeleteRule(NftFamily.Inet, Table, "forward", rules[0].Handle));
        Assert.Equal(["first", "b", "c"], _nft.ListRules(NftFamily.Inet, Table, "forward").Select(r => r.Comment));

        _nft.Commit(new NftTransaction().FlushChain(NftFamily.Inet, Table, "forward"));
        Assert.Empty(_nft.ListRules(NftFamily.Inet, Table, "forward"));
        Assert.DoesNotContain("10.0.0", _ns.Exec("nft", "list", "chain", "inet", Table, "forward"));
    }

    [KernelFact]
    public void Elements_are_deleted_by_key_and_sets_flushed_and_table_deleted()
    {
        _nft.Commit(Skeleton()
            .AddSet(new NftSet(NftFamily.Inet, Table, "names", NftDataType.InterfaceName))
            .AddElements(NftFamily.Inet, Table, "names",
            [new NftSetElement(NftData.InterfaceName("a0")) { Comment = "x" }, new NftSetElement(NftData.InterfaceName("b0")), new NftSetElement(NftData.InterfaceName("c0"))]));
        _nft.Commit(new NftTransaction().DeleteElements(NftFamily.Inet, Table, "names", [new NftSetElement(NftData.InterfaceName("b0"))]));
        Assert.Equal(2, _nft.ListElements(NftFamily.Inet, Table, "names").Count);
        Assert.Equal("x", _nft.ListElements(NftFamily.Inet, Table, "names").Single(e => e.Comment is not null).Comment);

        var missing = Assert.Throws<NetlinkException>(() => _nft.Commit(new NftTransaction().DeleteElements(NftFamily.Inet, Table, "names", [new NftSetElement(NftData.InterfaceName("zz"))])));
        Assert.True(NftConnection.IsNotFound(missing));

        _nft.Commit(new NftTransaction().FlushSet(NftFamily.Inet, Table, "names"));
        Assert.Empty(_nft.ListElements(NftFamily.Inet, Table, "names"));

        _nft.Commit(new NftTransaction().DeleteTable(NftFamily.Inet, Table));
        Assert.DoesNotContain(Table, _ns.Exec("nft", "list", "tables"));
        Assert.Empty(_nft.ListRules(NftFamily.Inet, Table));
    }

    [KernelFact]
    public void Ipv6_and_interval_elements_round_trip()
    {
        _nft.Commit(Skeleton()
            .AddSet(new NftSet(NftFamily.Inet, Table, "excluded6", NftDataType.Ipv6Address) { Flags = NftSetFlags.Interval })
            .AddElements(NftFamily.Inet, Table, "excluded6", NftSetElement.Prefix(IPAddress.Parse("fd00:1::"), 64, "v6 net"))
            .AddElements(NftFamily.Inet, Table, "containers6", [new NftSetElement(NftData.Address(IPAddress.Parse("fd00:1::5"))) { Verdict = NftVerdict.Jump("per-container") }]));
        string text = _ns.Exec("nft", "list", "table", "inet", Table);
        Assert.Contains("fd00:1::/64 comment \"v6 net\"", text);
        Assert.Contains("fd00:1::5 : jump per-container", text);
    }

    private static byte[] Pair(string a, string b) => NftData.Concat(NftData.Address(IPAddress.Parse(a)), NftData.Address(IPAddress.Parse(b)));

    [KernelFact]
    public void Concatenated_interval_set_elements_round_trip_with_key_end()
    {
        var v4 = NftDataType.Concat(NftDataType.Ipv4Address, NftDataType.Ipv4Address);
        var v6 = NftDataType.Concat(NftDataType.Ipv6Address, NftDataType.Ipv6Address);
        _nft.Commit(Skeleton()
            .AddSet(new NftSet(NftFamily.Inet, Table, "exempt4", v4) { Flags = NftSetFlags.Interval })
            .AddSet(new NftSet(NftFamily.Inet, Table, "exempt6", v6) { Flags = NftSetFlags.Interval })
            .AddRule(new NftRuleBuilder().SourceAndDestinationInSet(false, "exempt4", invert: true).Masquerade().Build(Table, "postrouting"))
            .AddRule(new NftRuleBuilder().SourceAndDestinationInSet(true, "exempt6").Return().Build(Table, "postrouting"))
            .AddElements(NftFamily.Inet, Table, "exempt4",
            [
                NftSetElement.Range(Pair("10.88.0.5", "10.88.0.0"), Pair("10.88.0.5", "10.88.0.255"), "c1 eth0"),
                NftSetElement.Range(Pair("10.88.0.5", "203.0.113.0"), Pair("10.88.0.5", "203.0.113.255"), "c1 eth0"),
            ])
            .AddElements(NftFamily.Inet, Table, "exempt6",
                [NftSetElement.Range(Pair("fd00::5", "fd00::"), NftData.Concat(NftData.Address(IPAddress.Parse("fd00::5")), NftData.LastAddress(IPAddress.Parse("fd00::"), 64)), "c1 eth0")]));

        string text = _ns.Exec("nft", "list", "table", "inet", Table);
        Assert.Contains("type ipv4_addr . ipv4_addr", text);
        Assert.Contains("flags interval", text);
        Assert.Contains("10.88.0.5 . 10.88.0.0/24 comment \"c1 eth0\"", text);
        Assert.Contains("10.88.0.5 . 203.0.113.0/24 comment \"c1 eth0\"", text);
        Assert.Contains("fd00::5 . fd00::/64 comment \"c1 eth0\"", text);
        Assert.Contains("ip saddr . ip daddr != @exempt4 masquerade", text);
        Assert.Contains("ip6 saddr . ip6 daddr @exempt6 return", text);

        // Our dump reads key and key end; an element nft adds reads back the same way.
        _ns.Exec("nft", "add", "element", "inet", Table, "exempt4", "{ 10.88.0.6 . 10.0.0.0/8 comment \"c2 eth0\" }");
        var elements = _nft.ListElements(NftFamily.Inet, Table, "exempt4");
        var byNft = Assert.Single(elements, e => e.Comment == "c2 eth0");
        Assert.Equal(Pair("10.88.0.6", "10.0.0.0"), byNft.Key);
        Assert.Equal(Pair("10.88.0.6", "10.255.255.255"), byNft.KeyEnd);
        Assert.Equal(3, elements.Count);

        // Exact lookup by range, then delete by range.
        var found = _nft.GetElement(NftFamily.Inet, Table, "exempt4", Pair("10.88.0.5", "203.0.113.0"), Pair("10.88.0.5", "203.0.113.255"));
        Assert.Equal("c1 eth0", found?.Comment);
        Assert.Equal(Pair("10.88.0.5", "203.0.113.255"), found?.KeyEnd);
        _nft.Commit(new NftTransaction().DeleteElements(NftFamily.Inet, Table, "exempt4", [found!]));
        Assert.Null(_nft.GetElement(NftFamily.Inet, Table, "exempt4", Pair("10.88.0.5", "203.0.113.0"), Pair("10.88.0.5", "203.0.113.255")));
        Assert.DoesNotContain("203.0.113", _ns.Exec("nft", "list", "set", "inet", Table, "exempt4"));

        // Overlapping a range already there is refused, whole batch.
        Assert.ThrowsAny<NetlinkException>(() => _nft.Commit(new NftTransaction().AddElements(NftFamily.Inet, Table, "exempt4",
            [NftSetElement.Range(Pair("10.88.0.6", "10.1.0.0"), Pair("10.88.0.6", "10.1.255.255"))])));
    }

    [KernelFact]
    public void CloseLater_keeps_connections_open_until_this_threads_CloseDeferred()
    {
        var first = _ns.Nft().CloseLater();
        var second = _ns.Nft().CloseLater();
        first.Commit(Skeleton());
        Assert.False(first.IsClosed);

        // Another thread's deferred closes are its own.
        var other = new Thread(NftConnection.CloseDeferred);
        other.Start();
        other.Join();
        Assert.False(first.IsClosed);
        Assert.False(second.IsClosed);

        NftConnection.CloseDeferred();
        Assert.True(first.IsClosed);
        Assert.True(second.IsClosed);
        NftConnection.CloseDeferred(); // nothing left: a no-op
    }

    private static readonly TimeSpan Century = TimeSpan.FromDays(36525);

    private static NftSetElement PortElement(ushort port, string address, string? comment = null) =>
        new(NftData.Concat([IpProto.IPPROTO_TCP], NftData.Port(port)))
        {
            Data = NftData.Concat(NftData.Address(IPAddress.Parse(address)), NftData.Port(80)),
            Comment = comment,
        };

    /// <summary>The table with a map and a set whose elements live a century unless expired.</summary>
    private void CommitExpiringSets() => _nft.Commit(new NftTransaction()
        .AddTable(new NftTable(NftFamily.Inet, Table))
        .AddSet(new NftSet(NftFamily.Inet, Table, "ports", NftDataType.Concat(NftDataType.InetProtocol, NftDataType.InetService))
        {
            DataType = NftDataType.Concat(NftDataType.Ipv4Address, NftDataType.InetService),
            Flags = NftSetFlags.Timeout,
            Timeout = Century,
        })
        .AddSet(new NftSet(NftFamily.Inet, Table, "names", NftDataType.InterfaceName) { Flags = NftSetFlags.Timeout, Timeout = Century }));

    [KernelFact]
    public void Expired_elements_are_gone_from_get_and_dumps_once_awaited_and_the_others_stay()
    {
        CommitExpiringSets();
        _nft.Commit(new NftTransaction()
            .AddElements(NftFamily.Inet, Table, "ports", [PortElement(8080, "10.88.0.5", "a eth0"), PortElement(8081, "10.88.0.6", "b eth0")])
            .AddElements(NftFamily.Inet, Table, "names", [new NftSetElement(NftData.InterfaceName("a0")) { Comment = "a eth0" }]));
        NftSetElement stored = _nft.GetElement(NftFamily.Inet, Table, "ports", PortElement(8080, "10.88.0.5").Key)!;
        Assert.True(stored.Expiration > Century - TimeSpan.FromDays(1));

        var sw = System.Diagnostics.Stopwatch.StartNew();
        _nft.Commit(new NftTransaction()
            .ExpireElements(NftFamily.Inet, Table, "ports", [new NftSetElement(stored.Key) { Data = stored.Data }])
            .ExpireElements(NftFamily.Inet, Table, "names", [new NftSetElement(NftData.InterfaceName("a0"))]));
        bool immediately = _nft.GetElement(NftFamily.Inet, Table, "names", NftData.InterfaceName("a0")) is null;
        Assert.True(_nft.AwaitExpiry(NftFamily.Inet, Table, "names", NftData.InterfaceName("a0")));
        Console.WriteLine($"[expire] gone {(immediately ? "at the first GET" : "after waiting")}, {sw.Elapsed.TotalMilliseconds:F2} ms after the commit began");

        Assert.Null(_nft.GetElement(NftFamily.Inet, Table, "ports", stored.Key));
        Assert.Null(_nft.GetElement(NftFamily.Inet, Table, "names", NftData.InterfaceName("a0")));
        Assert.Equal(["b eth0"], _nft.ListElements(NftFamily.Inet, Table, "ports").Select(e => e.Comment));
        Assert.Empty(_nft.ListElements(NftFamily.Inet, Table, "names"));
        string text = _ns.Exec("nft", "list", "table", "inet", Table);
        Assert.DoesNotContain("a eth0", text);
        Assert.Contains("comment \"b eth0\"", text);
    }

    [KernelFact]
    public void An_expired_key_can_be_added_again_at_once_with_another_value()
    {
        CommitExpiringSets();
        _nft.Commit(new NftTransaction().AddElements(NftFamily.Inet, Table, "ports", [PortElement(8080, "10.88.0.5", "a eth0")]));
        NftSetElement old = PortElement(8080, "10.88.0.5");
        _nft.Commit(new NftTransaction().ExpireElements(NftFamily.Inet, Table, "ports", [old]));
        Assert.True(_nft.AwaitExpiry(NftFamily.Inet, Table, "ports", old.Key));

        _nft.Commit(new NftTransaction().AddElements(NftFamily.Inet, Table, "ports", [PortElement(8080, "10.88.0.7", "c eth0")]));
        NftSetElement? now = _nft.GetElement(NftFamily.Inet, Table, "ports", old.Key);
        Assert.Equal("c eth0", now?.Comment);
        Assert.Equal(PortElement(8080, "10.88.0.7").Data, now?.Data);
        Assert.True(now?.Expiration > Century - TimeSpan.FromDays(1));
        Assert.Equal(["c eth0"], _nft.ListElements(NftFamily.Inet, Table, "ports").Select(e => e.Comment));
    }

    [KernelFact]
    public void Expiring_needs_the_stored_value_and_a_set_with_timeouts()
    {
        CommitExpiringSets();
        _nft.Commit(new NftTransaction()
            .AddSet(new NftSet(NftFamily.Inet, Table, "plain", NftDataType.InterfaceName))
            .AddElements(NftFamily.Inet, Table, "plain", [new NftSetElement(NftData.InterfaceName("a0"))])
            .AddElements(NftFamily.Inet, Table, "ports", [PortElement(8080, "10.88.0.5", "a eth0")]));

        var clash = Assert.Throws<NetlinkException>(() => _nft.Commit(new NftTransaction().ExpireElements(NftFamily.Inet, Table, "ports", [PortElement(8080, "10.88.0.9")])));
        Assert.Equal(Errno.EEXIST, clash.Errno);
        Assert.Contains("expire element", clash.Message);
        var noTimeouts = Assert.Throws<NetlinkException>(() => _nft.Commit(new NftTransaction().ExpireElements(NftFamily.Inet, Table, "plain", [new NftSetElement(NftData.InterfaceName("a0"))])));
        Assert.Equal(Errno.EINVAL, noTimeouts.Errno);

        Assert.NotNull(_nft.GetElement(NftFamily.Inet, Table, "ports", PortElement(8080, "10.88.0.5").Key));
        Assert.NotNull(_nft.GetElement(NftFamily.Inet, Table, "plain", NftData.InterfaceName("a0")));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NftTransaction().ExpireElements(NftFamily.Inet, Table, "plain", [], TimeSpan.Zero));
    }

    [KernelFact]
    public void On_a_connection_closed_later_the_wait_for_an_expiring_element_comes_at_the_close()
    {
        CommitExpiringSets();
        var names = Enumerable.Range(0, 20).Select(i => new NftSetElement(NftData.InterfaceName("a" + i))).ToArray();
        _nft.Commit(new NftTransaction().AddElements(NftFamily.Inet, Table, "names", names));
        NftConnection call = _ns.Nft().CloseLater();
        try
        {
            call.Commit(new NftTransaction().ExpireElements(NftFamily.Inet, Table, "names", names));
            NftExpiry probe = call.ProbeExpiry(NftFamily.Inet, Table, "names", names[^1].Key);
            Assert.NotEqual(NftExpiry.Kept, probe);
            Assert.True(call.AwaitExpiryBeforeClose(NftFamily.Inet, Table, "names", names[^1].Key));
        }
        finally
        {
            NftConnection.CloseDeferred();
        }
        Assert.True(call.IsClosed);
        Assert.Empty(_nft.ListElements(NftFamily.Inet, Table, "names"));
        Assert.All(names, n => Assert.Null(_nft.GetElement(NftFamily.Inet, Table, "names", n.Key)));
    }

    [KernelFact]
    public void Awaiting_expiry_of_an_element_that_keeps_its_century_returns_false_at_once()
    {
        CommitExpiringSets();
        _nft.Commit(new NftTransaction().AddElements(NftFamily.Inet, Table, "names", [new NftSetElement(NftData.InterfaceName("a0"))]));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(NftExpiry.Kept, _nft.ProbeExpiry(NftFamily.Inet, Table, "names", NftData.InterfaceName("a0")));
        Assert.False(_nft.AwaitExpiry(NftFamily.Inet, Table, "names", NftData.InterfaceName("a0")));
        Assert.True(sw.Elapsed < TimeSpan.FromMilliseconds(500), sw.Elapsed.ToString());
        Assert.True(_nft.AwaitExpiry(NftFamily.Inet, Table, "names", NftData.InterfaceName("zz")));
        Assert.Equal(NftExpiry.Gone, _nft.ProbeExpiry(NftFamily.Inet, Table, "names", NftData.InterfaceName("zz")));
    }
}
