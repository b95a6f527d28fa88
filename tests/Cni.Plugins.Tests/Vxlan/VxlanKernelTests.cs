using System.Net;
using Cni.Linux.Ethtool;
using Cni.Linux.Route;
using Cni.Plugins.Bridge;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Vxlan;

/// <summary>The vxlan pieces against the kernel, inside throwaway namespaces (see <see cref="UnderlayHost"/>).</summary>
public sealed class VxlanKernelTests : IDisposable
{
    private readonly UnderlayHost _h = new();

    public void Dispose() => _h.Dispose();

    private const string Peers = "\"peers\":[\"192.168.88.1\",\"192.168.88.2\",\"192.168.88.3\"]";

    private Link Ensure(VxlanOptions o) => _h.EnsureDevice(o);

    private void Check(VxlanOptions o) => _h.Host.Run(() =>
    {
        using var host = RouteSocket.Open();
        var underlay = Underlay.Resolve(host, o);
        int mtu = OverlayMtu.Resolve(o.Mtu, underlay.Device.Mtu, underlay.Family, underlay.Device.Name);
        VxlanDevice.Check(host, o, underlay, mtu, host.GetLink(o.Bridge.Bridge)!);
    });

    private IReadOnlyList<IPAddress> FloodList(int index) => _h.Host.Run(() =>
    {
        using var host = RouteSocket.Open();
        return Cni.Plugins.Vxlan.FloodList.Current(host.ListFdbEntries(index), index).OrderBy(a => a.ToString()).ToList();
    });

    [Fact]
    public void Ensure_creates_the_device_from_the_default_route_underlay_on_the_bridge()
    {
        var o = UnderlayHost.Options("\"vni\":77," + Peers);
        var dev = Ensure(o);

        Assert.Equal("vxlan77", dev.Name);
        Assert.Equal(77u, dev.Vxlan!.Vni);
        Assert.Equal(4789, dev.Vxlan.Port);
        Assert.Equal(IPAddress.Parse(UnderlayHost.Local), dev.Vxlan.Local);
        Assert.False(dev.Vxlan.Learning);
        Assert.Equal(1450, dev.Mtu);
        Assert.True(dev.IsUp);
        Assert.Equal(VtepAddress.Derive(77, IPAddress.Parse(UnderlayHost.Local)).ToString(),
            BridgePlugin.Format(dev));
        string detail = _h.InHost("ip", "-d", "link", "show", "vxlan77");
        Assert.Contains("master vx77", detail);
        Assert.Contains("dev ul0", detail);
        Assert.Equal([IPAddress.Parse("192.168.88.2"), IPAddress.Parse("192.168.88.3")], FloodList(dev.Index));
        Check(o);
    }

    [Fact]
    public void A_second_ensure_reuses_the_device()
    {
        var o = UnderlayHost.Options("\"vni\":78," + Peers);
        var first = Ensure(o);
        var second = Ensure(o);
        Assert.Equal(first.Index, second.Index);
    }

    [Fact]
    public void A_changed_port_recreates_the_device_with_the_same_mac_on_the_bridge()
    {
        var first = Ensure(UnderlayHost.Options("\"vni\":79," + Peers));
        var o = UnderlayHost.Options("\"vni\":79,\"port\":8472," + Peers);
        Assert.Throws<CniException>(() => Check(o));
        var second = Ensure(o);
        Assert.NotEqual(first.Index, second.Index);
        Assert.Equal(8472, second.Vxlan!.Port);
        Assert.Equal(first.Address, second.Address);
        Assert.Contains("master vx79", _h.InHost("ip", "-d", "link", "show", "vxlan79"));
        Assert.Equal(2, FloodList(second.Index).Count);
        Check(o);
    }

    [Fact]
    public void A_changed_mtu_is_set_in_place()
    {
        var first = Ensure(UnderlayHost.Options("\"vni\":80," + Peers));
        var second = Ensure(UnderlayHost.Options("\"vni\":80,\"mtu\":1400," + Peers));
        Assert.Equal(first.Index, second.Index);
        Assert.Equal(1400, second.Mtu);
    }

    [Fact]
    public void The_flood_list_follows_the_peer_list()
    {
        var dev = Ensure(UnderlayHost.Options("\"vni\":81," + Peers));
        var o = UnderlayHost.Options("\"vni\":81,\"peers\":[\"192.168.88.3\",\"192.168.88.4\"]");
        Assert.Throws<CniException>(() => Check(o));
        Ensure(o);
        Assert.Equal([IPAddress.Parse("192.168.88.3"), IPAddress.Parse("192.168.88.4")], FloodList(dev.Index));
        Check(o);
    }

    [Fact]
    public void Check_fails_when_a_flood_entry_is_missing()
    {
        var o = UnderlayHost.Options("\"vni\":82," + Peers);
        Ensure(o);
        _h.InHost("bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan82", "dst", "192.168.88.2");
        var e = Assert.Throws<CniException>(() => Check(o));
        Assert.Contains("flood list", e.Message);
    }

    [Fact]
    public void Tx_checksum_offload_can_be_turned_off_and_check_sees_it()
    {
        var o = UnderlayHost.Options("\"vni\":83,\"disableTxChecksumOffload\":true," + Peers);
        Ensure(o);
        Assert.False(_h.Host.Run(() => Ethtool.GetTxChecksumming("vxlan83")));
        Check(o);
        _h.Host.Run(() => Ethtool.SetTxChecksumming("vxlan83", true));
        Assert.Throws<CniException>(() => Check(o));
        Ensure(UnderlayHost.Options("\"vni\":83," + Peers));
        Assert.True(_h.Host.Run(() => Ethtool.GetTxChecksumming("vxlan83")));
    }

    [Fact]
    public void Group_mode_keeps_the_kernels_group_entry_as_the_flood_list()
    {
        var o = UnderlayHost.Options("\"vni\":84,\"group\":\"239.7.7.7\",\"underlayDevice\":\"ul0\"");
        var dev = Ensure(o);
        Assert.Equal(IPAddress.Parse("239.7.7.7"), dev.Vxlan!.Group);
        Assert.Equal([IPAddress.Parse("239.7.7.7")], FloodList(dev.Index));
        Check(o);
    }

    [Fact]
    public void An_unknown_underlay_device_is_a_config_error()
    {
        var o = UnderlayHost.Options("\"vni\":85,\"underlayDevice\":\"nosuch0\"");
        var e = Assert.Throws<CniException>(() => Ensure(o));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("unknown underlay device \"nosuch0\"", e.Message);
        Assert.False(_h.HostHasLink("vx85"));
    }

    [Fact]
    public void A_local_ip_not_on_the_host_is_a_config_error()
    {
        var e = Assert.Throws<CniException>(() => Ensure(UnderlayHost.Options("\"vni\":86,\"localIP\":\"192.168.88.9\"")));
        Assert.Contains("not an address of this host", e.Message);
    }

    [Fact]
    public void A_foreign_device_with_our_name_is_not_touched()
    {
        _h.InHost("ip", "link", "add", "vxlan87", "type", "vxlan", "id", "87", "dstport", "4789", "local", UnderlayHost.Local);
        var e = Assert.Throws<CniException>(() => Ensure(UnderlayHost.Options("\"vni\":87," + Peers)));
        Assert.Contains("not created by this plugin", e.Message);
        Assert.True(_h.HostHasLink("vxlan87"));
    }

    // ---- the plugin end to end (no IPAM, so no other binary is needed) ----------------------------------

    private VxlanPlugin Plugin() => new(null, null, _h.LockDirectory);

    [Fact]
    public void Add_then_del_leaves_the_host_clean_and_del_twice_succeeds()
    {
        string ctr = _h.NewNamespace();
        var result = _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", "\"vni\":90," + Peers, "c90", ctr)));
        Assert.Equal("vx90", result.Interfaces![0].Name);
        Assert.Contains("mtu 1450", _h.Exec(ctr, "ip", "link", "show", "eth0"));
        Assert.True(_h.HostHasLink("vxlan90"));

        _h.Host.Run(() => Plugin().Del(UnderlayHost.Request("DEL", "\"vni\":90," + Peers, "c90", ctr)));
        Assert.False(_h.HostHasLink("vxlan90"));
        Assert.False(_h.HostHasLink("vx90"));
        _h.Host.Run(() => Plugin().Del(UnderlayHost.Request("DEL", "\"vni\":90," + Peers, "c90", ctr)));
    }

    [Fact]
    public void Del_keeps_the_device_while_another_container_uses_it_and_succeeds_after_netns_is_gone()
    {
        string a = _h.NewNamespace(), b = _h.NewNamespace();
        string cfg = "\"vni\":91," + Peers;
        _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", cfg, "a", a)));
        _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", cfg, "b", b)));
        _h.Host.Run(() => Plugin().Check(WithPrev(UnderlayHost.Request("CHECK", cfg, "a", a), cfg)));

        _h.DeleteNamespace(a);
        _h.Host.Run(() => Plugin().Del(UnderlayHost.Request("DEL", cfg, "a", a)));
        Assert.True(_h.HostHasLink("vxlan91"));
        _h.Host.Run(() => Plugin().Del(UnderlayHost.Request("DEL", cfg, "b", b)));
        Assert.False(_h.HostHasLink("vxlan91"));
    }

    [Fact]
    public void Gc_removes_attachments_that_are_not_valid_and_then_the_unused_network()
    {
        string a = _h.NewNamespace(), b = _h.NewNamespace();
        string cfg = "\"vni\":92," + Peers;
        _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", cfg, "a", a)));
        _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", cfg, "b", b)));

        _h.Host.Run(() => Plugin().Gc(UnderlayHost.Request("GC", cfg, "", "", """[{"containerID":"a","ifname":"eth0"}]""")));
        Assert.True(_h.HostHasLink("vxlan92"));
        Assert.Single(_h.InHost("ip", "-o", "link", "show", "master", "vx92").Split('\n', StringSplitOptions.RemoveEmptyEntries),
            l => l.Contains("veth"));

        _h.Host.Run(() => Plugin().Gc(UnderlayHost.Request("GC", cfg, "", "", "[]")));
        Assert.False(_h.HostHasLink("vxlan92"));
        Assert.False(_h.HostHasLink("vx92"));
    }

    [Fact]
    public void A_failed_first_add_leaves_no_device_or_bridge()
    {
        string ctr = _h.NewNamespace();
        _h.Exec(ctr, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other");
        var e = Assert.Throws<CniException>(() => _h.Host.Run(() => Plugin().Add(UnderlayHost.Request("ADD", "\"vni\":93," + Peers, "c93", ctr))));
        Assert.Contains("already exists", e.Message);
        Assert.False(_h.HostHasLink("vxlan93"));
        Assert.False(_h.HostHasLink("vx93"));
    }

    /// <summary>A CHECK request carrying the prevResult ADD returned for this attachment (bridge, host veth, container).</summary>
    private static CniRequest WithPrev(CniRequest check, string cfg)
    {
        var tag = new Attachment(check.ContainerId, check.IfName);
        string prev = $$"""{"cniVersion":"1.1.0","interfaces":[{"name":"vx91"},{"name":"{{tag.HostInterfaceName}}"},{"name":"eth0","sandbox":"{{check.Netns}}"}]}""";
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"ovl","type":"vxlan","prevResult":{{prev}},{{cfg}}}""");
        return new CniRequest
        {
            Command = "CHECK", ContainerId = check.ContainerId, Netns = check.Netns, IfName = check.IfName,
            Config = NetworkConfig.Parse(bytes), StdinData = bytes, Environment = check.Environment,
        };
    }
}
