using Cni.Linux.Namespaces;

namespace Cni.Linux.Tests;

public sealed class SysctlTests : IDisposable
{
    private readonly TestNamespace _ns = new();

    public void Dispose() => _ns.Dispose();

    [Fact]
    public void Sysctl_is_read_and_written_inside_a_namespace_only()
    {
        string rootBefore = Sysctl.Read("net/ipv4/conf/lo/arp_notify");
        using NetNs ns = _ns.Open();
        ns.Run(() => Sysctl.Write("net/ipv4/conf/lo/arp_notify", rootBefore == "1" ? "0" : "1"));
        string inside = ns.Run(() => Sysctl.Read("net/ipv4/conf/lo/arp_notify"));
        Assert.Equal(rootBefore == "1" ? "0" : "1", inside);
        Assert.Equal(inside, _ns.Exec("cat", "/proc/sys/net/ipv4/conf/lo/arp_notify").Trim());
        Assert.Equal(rootBefore, Sysctl.Read("net/ipv4/conf/lo/arp_notify"));
    }

    [Theory]
    [InlineData("net/../kernel/hostname")]
    [InlineData("kernel/hostname")]
    [InlineData("/net/ipv4/ip_forward")]
    [InlineData("net//ipv4")]
    [InlineData("net")]
    public void Sysctl_keys_outside_net_or_with_dot_dot_are_refused(string key)
    {
        Assert.Throws<ArgumentException>(() => Sysctl.PathOf(key));
    }

    [Fact]
    public void Sysctl_key_with_dotted_interface_name_maps_to_one_path()
    {
        Assert.Equal("/proc/sys/net/ipv4/conf/eth0.100/forwarding", Sysctl.PathOf("net/ipv4/conf/eth0.100/forwarding"));
    }
}
