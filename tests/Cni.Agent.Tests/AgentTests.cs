using System.Net;
using System.Text;
using Cni.Etcd;
using Cni.Plugins;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Agent.Tests;

public class RegistryTests
{
    private const string Prefix = "/sharpcni/vxlan/v1/vteps/42/";

    private static KeyValue Kv(string node, string underlay, long lease = 9, long rev = 5, uint vni = 42) =>
        new(Encoding.UTF8.GetBytes(Prefix + node),
            new VtepRegistration(node, vni, IPAddress.Parse(underlay), new HardwareAddress(0x02_00_00_00_00_01), 4789, ["10.244.0.0/26"]).Encode(),
            rev, rev, 1, lease);

    private static WatchResponse Events(long revision, params WatchEvent[] events) => new(revision, events, false, false, 0, null);

    [Fact]
    public void A_list_then_watch_events_add_move_and_remove_hosts()
    {
        var r = new Registry(Prefix);
        r.Reset(10, [Kv("a", "10.0.0.1"), Kv("b", "10.0.0.2")]);
        Assert.Equal(["a", "b"], r.Registrations.Select(x => x.Node).Order());
        Assert.Equal(10, r.Revision);

        Assert.Equal(["c"], r.Apply(Events(11, new WatchEvent(WatchEventType.Put, Kv("c", "10.0.0.3", rev: 11)))));
        Assert.Empty(r.Apply(Events(12, new WatchEvent(WatchEventType.Put, Kv("c", "10.0.0.3", lease: 77, rev: 12))))); // renewed lease, same place
        Assert.Equal(77, r.LeaseOf("c"));
        Assert.Equal(["b"], r.Apply(Events(13, new WatchEvent(WatchEventType.Put, Kv("b", "10.0.0.9", rev: 13)))));
        Assert.Equal(["a"], r.Apply(Events(14, new WatchEvent(WatchEventType.Delete, new KeyValue(Encoding.UTF8.GetBytes(Prefix + "a"), [], 0, 14, 0, 0)))));
        Assert.Equal(["b", "c"], r.Registrations.Select(x => x.Node).Order());
        Assert.Equal(IPAddress.Parse("10.0.0.9"), r.Get("b")!.Underlay);
        Assert.Equal(14, r.Revision);
    }

    [Fact]
    public void A_changed_mac_or_block_list_is_a_change_and_the_seen_revision_follows_events_only()
    {
        var r = new Registry(Prefix);
        r.Reset(10, [Kv("a", "10.0.0.1")]);
        Assert.Equal(10, r.SeenRevision);
        var grown = new KeyValue(Encoding.UTF8.GetBytes(Prefix + "a"),
            new VtepRegistration("a", 42, IPAddress.Parse("10.0.0.1"), new HardwareAddress(0x02_00_00_00_00_01), 4789, ["10.244.0.0/26", "10.244.0.64/26"]).Encode(),
            5, 12, 2, 9);
        Assert.Equal(["a"], r.Apply(Events(15, new WatchEvent(WatchEventType.Put, grown))));
        Assert.Equal(12, r.SeenRevision); // the message's header (15) is not proof that everything up to it was seen
        var newMac = new KeyValue(Encoding.UTF8.GetBytes(Prefix + "a"),
            new VtepRegistration("a", 42, IPAddress.Parse("10.0.0.1"), new HardwareAddress(0x02_00_00_00_00_07), 4789, ["10.244.0.0/26", "10.244.0.64/26"]).Encode(),
            5, 16, 3, 9);
        Assert.Equal(["a"], r.Apply(Events(16, new WatchEvent(WatchEventType.Put, newMac))));
        Assert.Equal(16, r.SeenRevision);
    }

    [Fact]
    public void Unreadable_or_foreign_keys_are_ignored_and_reported()
    {
        var r = new Registry(Prefix);
        var bad = new KeyValue(Encoding.UTF8.GetBytes(Prefix + "x"), "not json"u8.ToArray(), 1, 1, 1, 1);
        var nested = new KeyValue(Encoding.UTF8.GetBytes(Prefix + "x/y"), Kv("x", "10.0.0.5").Value, 1, 1, 1, 1);
        var mismatch = new KeyValue(Encoding.UTF8.GetBytes(Prefix + "y"), Kv("z", "10.0.0.6").Value, 1, 1, 1, 1); // names another node
        var unreadable = r.Reset(3, [bad, nested, mismatch, Kv("a", "10.0.0.1")]);
        Assert.Equal(3, unreadable.Count);
        Assert.Equal(["a"], r.Registrations.Select(x => x.Node));
    }

    [Fact]
    public void Desired_hosts_leave_out_this_node_its_own_address_other_vnis_and_families()
    {
        var regs = new[]
        {
            new VtepRegistration("me", 42, IPAddress.Parse("10.0.0.1"), default, 4789, []),
            new VtepRegistration("twin", 42, IPAddress.Parse("10.0.0.1"), default, 4789, []),
            new VtepRegistration("b", 42, IPAddress.Parse("10.0.0.2"), default, 4789, []),
            new VtepRegistration("other-vni", 43, IPAddress.Parse("10.0.0.3"), default, 4789, []),
            new VtepRegistration("v6", 42, IPAddress.Parse("fd00::4"), default, 4789, []),
        };
        var desired = ClusterOverlay.Desired(regs, 42, "me", IPAddress.Parse("10.0.0.1"));
        Assert.Equal(["b"], desired.Keys);
    }
}

public class VtepRegistrationTests
{
    [Fact]
    public void A_registration_round_trips_and_bad_ones_decode_to_null()
    {
        var r = new VtepRegistration("host1", 4242, IPAddress.Parse("192.168.10.1"), new HardwareAddress(0x02_11_22_33_44_55), 4789, ["10.244.0.64/26"]);
        var back = VtepRegistration.Decode(r.Encode())!;
        Assert.Equal((r.Node, r.Vni, r.Underlay, r.VtepMac, r.Port), (back.Node, back.Vni, back.Underlay, back.VtepMac, back.Port));
        Assert.Equal(r.Blocks, back.Blocks);
        Assert.Null(VtepRegistration.Decode("{}"u8));
        Assert.Null(VtepRegistration.Decode("""{"node":"a","vni":0,"underlay":"10.0.0.1","vtepMac":"02:00:00:00:00:01"}"""u8));
        Assert.Null(VtepRegistration.Decode("""{"node":"a","vni":1,"underlay":"nope","vtepMac":"02:00:00:00:00:01"}"""u8));
        Assert.Null(VtepRegistration.Decode("[1,2"u8));
    }

    [Fact]
    public void A_block_key_becomes_a_cidr()
    {
        Assert.Equal("10.244.0.64/26", VtepKeys.BlockFromKey("/sharpcni/ipam/v1/blocks/host1/10.244.0.64-26"));
        Assert.Equal("fd00:244::40/122", VtepKeys.BlockFromKey("/sharpcni/ipam/v1/blocks/host1/fd00:244::40-122"));
        Assert.Null(VtepKeys.BlockFromKey("/sharpcni/ipam/v1/blocks/host1/garbage"));
        Assert.Equal("/p/vxlan/v1/vteps/7/n1", VtepKeys.Vtep("/p/", 7, "n1"));
    }
}

public sealed class PeerLedgerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ledger-test").FullName;

    [Fact]
    public void The_ledger_round_trips_and_is_empty_for_another_device()
    {
        string path = PeerLedger.PathFor(_dir, 42, "host1");
        Assert.Empty(PeerLedger.Load(path, 7).Peers); // no file yet
        var l = PeerLedger.Load(path, 7);
        l.Peers["b"] = IPAddress.Parse("10.0.0.2");
        l.Peers["c"] = IPAddress.Parse("10.0.0.3");
        l.Save(path);
        Assert.Equal(["b", "c"], PeerLedger.Load(path, 7).Peers.Keys);
        Assert.Equal(IPAddress.Parse("10.0.0.3"), PeerLedger.Load(path, 7).Peers["c"]);
        // The device was re-created (another ifindex): its entries died with the old one.
        Assert.Empty(PeerLedger.Load(path, 8).Peers);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

public sealed class OverlayNetworksTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("agent-conf").FullName;

    private const string Etcd = """{"endpoints":["https://10.0.0.1:2379"],"caFile":"/ca","certFile":"/c","keyFile":"/k"}""";

    [Fact]
    public void Cluster_vxlan_networks_are_found_in_lists_and_single_configs()
    {
        File.WriteAllText(Path.Combine(_dir, "10-a.conflist"), """
            {"cniVersion":"1.1.0","name":"ova","plugins":[{"type":"vxlan","vni":100,"cluster":{"etcd":ETCD,"nodeName":"n1","ttlSeconds":12},
              "ipam":{"type":"host-local","subnet":"10.1.0.0/16"}},{"type":"portmap","capabilities":{"portMappings":true}}]}
            """.Replace("ETCD", Etcd));
        File.WriteAllText(Path.Combine(_dir, "20-b.conf"), """
            {"cniVersion":"1.0.0","name":"ovb","type":"vxlan","vni":200,"cluster":{"etcd":ETCD,"prefix":"/x/"},"ipam":{"type":"host-local","subnet":"10.2.0.0/16"}}
            """.Replace("ETCD", Etcd));
        File.WriteAllText(Path.Combine(_dir, "30-peers.conflist"), """
            {"cniVersion":"1.1.0","name":"plain","plugins":[{"type":"vxlan","vni":300,"peers":["10.0.0.2"],"ipam":{"type":"host-local","subnet":"10.3.0.0/16"}}]}
            """);
        File.WriteAllText(Path.Combine(_dir, "40-dup.conflist"), """
            {"cniVersion":"1.1.0","name":"dup","plugins":[{"type":"vxlan","vni":100,"cluster":{"etcd":ETCD},"ipam":{"type":"host-local","subnet":"10.4.0.0/16"}}]}
            """.Replace("ETCD", Etcd));
        File.WriteAllText(Path.Combine(_dir, "50-broken.conflist"), "{");
        File.WriteAllText(Path.Combine(_dir, "README"), "not a config");
        var log = new StringWriter();
        var found = OverlayNetworks.Discover(_dir, log);
        Assert.Equal(["ova", "ovb"], found.Select(n => n.Name));
        var a = found[0].Options.Cluster!;
        Assert.Equal(("n1", 12, "/sharpcni"), (a.NodeName, a.TtlSeconds, a.Prefix));
        var b = found[1].Options.Cluster!;
        Assert.Equal((Environment.MachineName, VxlanClusterOptions.DefaultTtlSeconds, "/x"), (b.NodeName, b.TtlSeconds, b.Prefix));
        Assert.Contains("40-dup.conflist", log.ToString());
        Assert.Contains("50-broken.conflist", log.ToString());
    }

    [Theory]
    [InlineData("""{"etcd":{"endpoints":[]}}""", "etcd.endpoints is empty")]
    [InlineData("""{"prefix":"/x"}""", "'etcd' is missing")]
    [InlineData("""{"etcd":ETCD,"ttlSeconds":1}""", "ttlSeconds 1")]
    [InlineData("""{"etcd":ETCD,"prefix":"x"}""", "must start with '/'")]
    [InlineData("""{"etcd":ETCD,"nodeName":"a/b"}""", "invalid nodeName")]
    [InlineData("\"etcd\"", "$.cluster")]
    public void Bad_cluster_objects_are_config_errors(string cluster, string message)
    {
        string conf = """{"cniVersion":"1.1.0","name":"n","type":"vxlan","vni":5,"cluster":CLUSTER,"ipam":{"type":"host-local","subnet":"10.1.0.0/16"}}""".Replace("CLUSTER", cluster).Replace("ETCD", Etcd);
        var e = Assert.ThrowsAny<CniException>(() => OverlayNetworks.FromFile("f", Encoding.UTF8.GetBytes(conf)));
        Assert.Contains(message, e.Message);
        Assert.True(e.Code is ErrorCode.InvalidNetworkConfig or ErrorCode.DecodingFailure);
    }

    private const string RoutedIpam = """{"type":"cluster-ipam","nodeName":"n1","etcd":ETCD,"pools":[{"subnet":"10.244.0.0/16","blockSize":26}]}""";

    [Fact]
    public void Routed_mode_is_read()
    {
        string conf = """{"cniVersion":"1.1.0","name":"n","type":"vxlan","vni":5,"isGateway":true,"cluster":{"etcd":ETCD,"mode":"routed"},"ipam":IPAM}"""
            .Replace("IPAM", RoutedIpam).Replace("ETCD", Etcd);
        Assert.Equal(OverlayMode.Routed, OverlayNetworks.FromFile("f", Encoding.UTF8.GetBytes(conf))[0].Options.Cluster!.Mode);
        Assert.Equal(OverlayMode.L2, OverlayNetworks.FromFile("f", Encoding.UTF8.GetBytes(conf.Replace("\"routed\"", "\"l2\"")))[0].Options.Cluster!.Mode);
    }

    [Theory]
    [InlineData("\"mode\":\"flat\"", "", "mode 'flat' is not one of")]
    [InlineData("\"mode\":\"routed\"", "\"isGateway\":false,", "needs 'isGateway': true")]
    [InlineData("\"mode\":\"routed\"", "\"peers\":[\"10.0.0.9\"],", "does not use peers")]
    [InlineData("\"mode\":\"routed\"", "HOSTLOCAL", "ipam.type must be 'cluster-ipam'")]
    [InlineData("\"mode\":\"routed\"", "V6POOL", "IPv4 only: pool fd00:10::/64 is IPv6")]
    public void Routed_mode_refuses_what_it_cannot_route_before_any_change(string mode, string extra, string message)
    {
        string ipam = RoutedIpam;
        if (extra == "HOSTLOCAL") { ipam = """{"type":"host-local","subnet":"10.1.0.0/16"}"""; extra = ""; }
        if (extra == "V6POOL") { ipam = RoutedIpam.Replace("""[{"subnet":"10.244.0.0/16","blockSize":26}]""", """[{"subnet":"10.244.0.0/16","blockSize":26},{"subnet":"fd00:10::/64","blockSize":122}]"""); extra = ""; }
        string gateway = extra.Contains("isGateway") ? "" : "\"isGateway\":true,";
        string conf = ("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"vxlan\",\"vni\":5," + gateway + extra + "\"cluster\":{\"etcd\":ETCD," + mode + "},\"ipam\":IPAM}")
            .Replace("IPAM", ipam).Replace("ETCD", Etcd);
        var e = Assert.Throws<CniException>(() => OverlayNetworks.FromFile("f", Encoding.UTF8.GetBytes(conf)));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Cluster_and_group_exclude_each_other()
    {
        string conf = """{"cniVersion":"1.1.0","name":"n","type":"vxlan","vni":5,"group":"239.1.1.1","cluster":{"etcd":ETCD},"ipam":{"type":"host-local","subnet":"10.1.0.0/16"}}""".Replace("ETCD", Etcd);
        var e = Assert.Throws<CniException>(() => OverlayNetworks.FromFile("f", Encoding.UTF8.GetBytes(conf)));
        Assert.Contains("cluster and group", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

public sealed class EtcdIdentitiesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("agent-etcd-ids").FullName;

    [Fact]
    public void The_relay_serves_the_etcd_identities_of_cluster_ipam_and_vxlan_cluster_configs_only()
    {
        File.WriteAllText(Path.Combine(_dir, "10-bridge.conflist"), """
            {"cniVersion":"1.1.0","name":"a","plugins":[{"type":"bridge","IPAM":{"type":"cluster-ipam","etcd":{"endpoints":["https://10.0.0.2:2379","https://10.0.0.1:2379"],
              "caFile":"/ca","certFile":"/c","keyFile":"/k","timeoutSeconds":3},"pools":[{"subnet":"10.244.0.0/16"}]}}]}
            """);
        File.WriteAllText(Path.Combine(_dir, "20-vx.conf"), """
            {"cniVersion":"1.0.0","name":"b","type":"vxlan","vni":7,"cluster":{"etcd":{"endpoints":["https://10.0.0.9:2379"],"username":"u","passwordFile":"/p"}},
             "ipam":{"type":"host-local","subnet":"10.2.0.0/16"}}
            """);
        File.WriteAllText(Path.Combine(_dir, "30-other.conflist"), """
            {"cniVersion":"1.1.0","name":"c","plugins":[{"type":"bridge","ipam":{"type":"host-local","etcd":{"endpoints":["https://10.9.9.9:2379"]},"subnet":"10.3.0.0/16"}}]}
            """);
        File.WriteAllText(Path.Combine(_dir, "40-broken.conflist"), "{");
        var found = EtcdIdentities.Discover(_dir);
        Assert.Equal(2, found.Count);
        Assert.Equal(["https://10.0.0.2:2379/", "https://10.0.0.1:2379/"], found[0].Endpoints.Select(u => u.ToString()));
        Assert.Equal(TimeSpan.FromSeconds(3), found[0].Timeout);
        Assert.Equal("u", found[1].Username);

        // The endpoints' order does not change the identity; a different key file does.
        var same = new Cni.Etcd.EtcdOptions { Endpoints = [new Uri("https://10.0.0.1:2379"), new Uri("https://10.0.0.2:2379")], CaFile = "/ca", CertFile = "/c", KeyFile = "/k" };
        Assert.Equal(same.Identity, found[0].Identity);
        Assert.NotNull(EtcdIdentities.Find(_dir, same.Identity));
        var other = new Cni.Etcd.EtcdOptions { Endpoints = same.Endpoints, CaFile = "/ca", CertFile = "/c", KeyFile = "/k2" };
        Assert.Null(EtcdIdentities.Find(_dir, other.Identity));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
