using Cni.Plugins;
using Cni.Spec;

namespace Cni.Plugins.Tests;

public class AttachmentTests
{
    [Fact]
    public void Host_interface_name_is_deterministic_and_fits_the_kernel_limit()
    {
        var a = new Attachment("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0");
        Assert.Equal(a.HostInterfaceName, new Attachment(a.ContainerId, "eth0").HostInterfaceName);
        Assert.Equal(15, a.HostInterfaceName.Length);
        Assert.StartsWith("veth", a.HostInterfaceName);
        Assert.Null(Cni.Spec.Names.InterfaceNameProblem(a.HostInterfaceName));
    }

    [Fact]
    public void Host_interface_name_differs_by_container_and_by_ifname()
    {
        var a = new Attachment("c1", "eth0");
        Assert.NotEqual(a.HostInterfaceName, new Attachment("c2", "eth0").HostInterfaceName);
        Assert.NotEqual(a.HostInterfaceName, new Attachment("c1", "eth1").HostInterfaceName);
        // The separator keeps ("c1e", "th0") apart from ("c1", "eth0").
        Assert.NotEqual(a.HostInterfaceName, new Attachment("c1e", "th0").HostInterfaceName);
    }

    /// <summary>Names earlier builds gave host veths: DEL and GC must keep finding them.</summary>
    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0", "veth455df2d13c4", "mvl455df2d13c4a")]
    [InlineData("c1", "eth0", "vethf53f02b3bfe", "mvlf53f02b3bfe9")]
    [InlineData("abc", "net1", "veth08bced468c5", "mvl08bced468c51")]
    public void Host_interface_name_is_unchanged_from_earlier_builds(string containerId, string ifName, string veth, string mvl)
    {
        Assert.Equal(veth, new Attachment(containerId, ifName).HostInterfaceName);
        Assert.Equal(mvl, new Attachment(containerId, ifName).HostInterfaceNameWithPrefix("mvl"));
    }

    [Fact]
    public void Tag_names_container_and_interface()
    {
        Assert.Equal("abc eth0", new Attachment("abc", "eth0").Tag);
    }

    [Fact]
    public void Hardware_address_round_trips_and_rejects_bad_text()
    {
        Assert.True(HardwareAddress.TryParse("0A:58:0a:01:00:05", out var mac));
        Assert.Equal("0a:58:0a:01:00:05", mac.ToString());
        Assert.Equal(mac, HardwareAddress.FromBytes(mac.ToBytes()));
        Assert.True(HardwareAddress.TryParse("0a-58-0a-01-00-05", out _));
        Assert.False(HardwareAddress.TryParse("0a:58:0a:01:00", out _));
        Assert.False(HardwareAddress.TryParse("0a:58:0a:01:00:zz", out _));
        Assert.False(HardwareAddress.TryParse("0a:58-0a:01:00:05", out _));
        Assert.True(HardwareAddress.TryParse("01:00:5e:00:00:01", out var mcast) && mcast.IsMulticast);
    }
}

public class Fnv1aTests
{
    [Theory]
    [InlineData("", 0xcbf29ce484222325UL)]
    [InlineData("a", 0xaf63dc4c8601ec8cUL)]
    [InlineData("foobar", 0x85944171f73967e8UL)]
    public void Fnv1a64_matches_the_published_test_vectors(string input, ulong expected) =>
        Assert.Equal(expected, Attachment.Fnv1a64(System.Text.Encoding.ASCII.GetBytes(input)));
}
