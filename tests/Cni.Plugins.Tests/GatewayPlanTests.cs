using Cni.Plugins.Bridge;
using Cni.Spec;

namespace Cni.Plugins.Tests;

public class GatewayPlanTests
{
    private static Result Ipam(params (string Addr, string? Gw)[] ips) => new()
    {
        IPs = [.. ips.Select(i => new IPConfig { Address = i.Addr, Gateway = i.Gw })],
    };

    [Fact]
    public void Ips_point_at_the_container_interface()
    {
        var r = Ipam(("10.1.0.5/24", "10.1.0.1"));
        GatewayPlan.Apply(r, new BridgeConfig(), 2);
        Assert.Equal(2, r.IPs![0].Interface);
    }

    [Fact]
    public void Missing_gateway_is_the_first_address_when_the_bridge_is_a_gateway()
    {
        var r = Ipam(("10.1.0.5/24", null), ("fd00:1::5/64", null));
        var plan = GatewayPlan.Apply(r, new BridgeConfig { IsGateway = true }, 2);
        Assert.Equal("10.1.0.1", r.IPs![0].Gateway);
        Assert.Equal("fd00:1::1", r.IPs[1].Gateway);
        Assert.Equal(["10.1.0.1/24", "fd00:1::1/64"], plan.BridgeAddresses.Select(p => p.ToString()));
        Assert.True(plan.HasV4Gateway && plan.HasV6Gateway);
    }

    [Fact]
    public void Without_isGateway_the_bridge_gets_no_address_and_the_gateway_stays_unset()
    {
        var r = Ipam(("10.1.0.5/24", null));
        var plan = GatewayPlan.Apply(r, new BridgeConfig(), 2);
        Assert.Null(r.IPs![0].Gateway);
        Assert.Empty(plan.BridgeAddresses);
    }

    [Fact]
    public void isDefaultGateway_adds_one_default_route_per_family()
    {
        var r = Ipam(("10.1.0.5/24", "10.1.0.1"), ("10.2.0.5/24", "10.2.0.1"), ("fd00::5/64", "fd00::1"));
        GatewayPlan.Apply(r, new BridgeConfig { IsDefaultGateway = true }, 2);
        Assert.Equal(2, r.Routes!.Count);
        Assert.Contains(r.Routes, x => x.Dst == "0.0.0.0/0" && x.Gw == "10.1.0.1");
        Assert.Contains(r.Routes, x => x.Dst == "::/0" && x.Gw == "fd00::1");
    }

    [Fact]
    public void isDefaultGateway_keeps_an_IPAM_default_route()
    {
        var r = Ipam(("10.1.0.5/24", "10.1.0.1"));
        r.Routes = [new Route { Dst = "0.0.0.0/0", Gw = "10.1.0.254" }];
        GatewayPlan.Apply(r, new BridgeConfig { IsDefaultGateway = true }, 2);
        Assert.Single(r.Routes);
    }

    [Fact]
    public void isDefaultGateway_does_not_double_an_IPAM_default_route_without_gateway()
    {
        var r = Ipam(("10.1.0.5/24", null));
        r.Routes = [new Route { Dst = "0.0.0.0/0" }];
        GatewayPlan.Apply(r, new BridgeConfig { IsGateway = true, IsDefaultGateway = true }, 2);
        Assert.Equal("0.0.0.0/0", Assert.Single(r.Routes).Dst);
    }

    [Fact]
    public void Two_ranges_with_one_gateway_give_one_bridge_address()
    {
        var r = Ipam(("10.1.0.5/24", "10.1.0.1"), ("10.1.0.6/24", "10.1.0.1"));
        var plan = GatewayPlan.Apply(r, new BridgeConfig { IsGateway = true }, 2);
        Assert.Single(plan.BridgeAddresses);
    }

    [Fact]
    public void First_address_carries_across_bytes()
    {
        Assert.Equal("10.1.1.0", GatewayPlan.FirstAddress(IPPrefix.Parse("10.1.0.255/32")).ToString());
        Assert.Equal("10.0.0.1", GatewayPlan.FirstAddress(IPPrefix.Parse("10.0.0.77/8")).ToString());
    }
}
