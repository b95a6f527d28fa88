using System.Text;
using Cni.Linux.Route;
using Cni.Plugins.Ptp;
using Cni.Spec;

namespace Cni.Plugins.Tests.Ptp;

/// <summary>ptp's options and the point-to-point routing plan, without root.</summary>
public class PtpConfigTests
{
    private static PtpOptions Options(string json) =>
        PtpOptions.From(PtpConfig.Parse(Encoding.UTF8.GetBytes(json)), NetworkConfig.Parse(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Kinds_config_reads_with_the_reference_names_and_defaults()
    {
        var o = Options("""{"cniVersion":"0.3.1","name":"kindnet","type":"ptp","ipMasq":false,"mtu":1500,"ipam":{"type":"host-local"}}""");
        Assert.False(o.IPMasq);
        Assert.Equal(1500, o.Mtu);
        Assert.Equal("kindnet", o.NetworkName);
        Assert.Equal(0, Options("""{"name":"n","type":"ptp","ipam":{"type":"host-local"}}""").Mtu);
    }

    [Fact]
    public void Go_cased_keys_read_as_the_canonical_ones()
    {
        var o = Options("""{"cniVersion":"1.0.0","name":"n","type":"ptp","IPMasq":true,"MTU":1400,"IPMasqBackend":"nftables","ipam":{"type":"host-local"}}""");
        Assert.True(o.IPMasq);
        Assert.Equal(1400, o.Mtu);
        Assert.Equal("nftables", o.Config.IPMasqBackend);
    }

    [Theory]
    [InlineData("""{"name":"n","type":"ptp","mtu":20,"ipam":{"type":"host-local"}}""", "invalid mtu")]
    [InlineData("""{"name":"n","type":"ptp","ipMasqBackend":"pf","ipam":{"type":"host-local"}}""", "invalid ipMasqBackend")]
    [InlineData("""{"name":"n","type":"ptp"}""", "needs an \"ipam\"")]
    public void Bad_options_are_code_7(string json, string message)
    {
        var e = Assert.Throws<CniException>(() => Options(json));
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_field_of_the_wrong_kind_is_code_6()
    {
        Assert.Equal(ErrorCode.DecodingFailure, Assert.Throws<CniException>(() => PtpConfig.Parse("""{"ipMasq":"yes"}"""u8)).Code);
    }

    [Fact]
    public void The_plan_routes_the_gateway_on_link_and_the_subnet_through_it()
    {
        var result = new Result
        {
            IPs =
            [
                new IPConfig { Interface = 1, Address = "10.1.2.5/24", Gateway = "10.1.2.1" },
                new IPConfig { Interface = 1, Address = "fd00::5/64", Gateway = "fd00::1" },
            ],
        };
        var plan = PointToPoint.Plan(result, 1);
        Assert.Equal(2, plan.Count);

        var gw = plan[0].GatewayRoute(7);
        Assert.Equal(("10.1.2.1", 32, RouteScope.Link, "10.1.2.5", (System.Net.IPAddress?)null),
            (gw.Destination.ToString(), gw.PrefixLength, gw.Scope!.Value, gw.PreferredSource!.ToString(), gw.Gateway));
        var subnet = plan[0].SubnetRoute(7);
        Assert.Equal(("10.1.2.0", 24, "10.1.2.1", 7), (subnet.Destination.ToString(), subnet.PrefixLength, subnet.Gateway!.ToString(), subnet.OutputIndex!.Value));
        var hostRoute = plan[0].HostRoute(9);
        Assert.Equal(("10.1.2.5", 32, RouteScope.Host, 9), (hostRoute.Destination.ToString(), hostRoute.PrefixLength, hostRoute.Scope!.Value, hostRoute.OutputIndex!.Value));

        Assert.Equal(128, plan[1].GatewayRoute(7).PrefixLength);
        Assert.Equal("fd00::", plan[1].SubnetRoute(7).Destination.ToString());
        Assert.Equal(128, plan[1].HostRoute(9).PrefixLength);
    }

    [Theory]
    [InlineData(null, "needs a gateway")]
    [InlineData("fd00::1", "not of the family")]
    [InlineData("10.1.2.5", "the address itself")]
    public void An_address_without_a_usable_gateway_is_refused(string? gateway, string message)
    {
        var result = new Result { IPs = [new IPConfig { Address = "10.1.2.5/24", Gateway = gateway }] };
        var e = Assert.Throws<CniException>(() => PointToPoint.Plan(result, 1));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Addresses_of_other_interfaces_are_not_planned()
    {
        var result = new Result { IPs = [new IPConfig { Interface = 0, Address = "10.1.2.5/24", Gateway = "10.1.2.1" }] };
        Assert.Empty(PointToPoint.Plan(result, 1));
    }
}
