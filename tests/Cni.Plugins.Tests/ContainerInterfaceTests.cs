using System.Net;
using Cni.Spec;

namespace Cni.Plugins.Tests;

public class ContainerInterfaceTests
{
    [Fact]
    public void Route_mtu_and_advmss_from_ipam_become_route_metrics()
    {
        var entry = ContainerInterface.ToEntry(new Route { Dst = "10.5.0.0/16", Gw = "10.1.0.1", Mtu = 1400, AdvMss = 1360 }, 7, null, null);
        Assert.Equal((1400u, 1360u), (entry.Mtu, entry.AdvertisedMss));
        Assert.Equal(IPAddress.Parse("10.1.0.1"), entry.Gateway);
    }

    [Fact]
    public void Route_without_mtu_or_with_zero_sets_no_metric()
    {
        var entry = ContainerInterface.ToEntry(new Route { Dst = "0.0.0.0/0", Mtu = 0 }, 7, IPAddress.Parse("10.1.0.1"), null);
        Assert.Null(entry.Mtu);
        Assert.Null(entry.AdvertisedMss);
    }

    [Fact]
    public void Negative_route_mtu_is_an_invalid_config()
    {
        var e = Assert.Throws<CniException>(() => ContainerInterface.ToEntry(new Route { Dst = "10.5.0.0/16", Mtu = -1 }, 7, null, null));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
    }
}
