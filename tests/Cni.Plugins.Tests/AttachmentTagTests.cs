using Cni.Plugins;

namespace Cni.Plugins.Tests;

public class AttachmentTagTests
{
    [Fact]
    public void Host_interface_name_is_deterministic_and_fits_the_kernel_limit()
    {
        var a = new AttachmentTag("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0");
        Assert.Equal(a.HostInterfaceName, new AttachmentTag(a.ContainerId, "eth0").HostInterfaceName);
        Assert.Equal(15, a.HostInterfaceName.Length);
        Assert.StartsWith("veth", a.HostInterfaceName);
        Assert.Null(Cni.Spec.Names.InterfaceNameProblem(a.HostInterfaceName));
    }

    [Fact]
    public void Host_interface_name_differs_by_container_and_by_ifname()
    {
        var a = new AttachmentTag("c1", "eth0");
        Assert.NotEqual(a.HostInterfaceName, new AttachmentTag("c2", "eth0").HostInterfaceName);
        Assert.NotEqual(a.HostInterfaceName, new AttachmentTag("c1", "eth1").HostInterfaceName);
        // The separator keeps ("c1e", "th0") apart from ("c1", "eth0").
        Assert.NotEqual(a.HostInterfaceName, new AttachmentTag("c1e", "th0").HostInterfaceName);
    }

    [Fact]
    public void Alias_names_container_and_interface()
    {
        Assert.Equal("abc eth0", new AttachmentTag("abc", "eth0").Alias);
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
        Assert.Equal(expected, AttachmentTag.Fnv1a64(System.Text.Encoding.ASCII.GetBytes(input)));
}
