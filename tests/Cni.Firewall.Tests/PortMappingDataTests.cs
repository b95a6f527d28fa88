using System.Net;
using Cni.Firewall;
using Cni.Linux.Netfilter;

namespace Cni.Firewall.Tests;

/// <summary>The port-mapping ruleset as data: no kernel, no root.</summary>
public class PortMappingDataTests
{
    private static readonly IPAddress V4 = IPAddress.Parse("10.88.0.5");
    private static readonly IPAddress V6 = IPAddress.Parse("fd00:88::5");
    private static readonly PortMappingOptions Defaults = new();

    private static string[] Describe(IEnumerable<PortMappingElement> elements) => elements.Select(e => e.ToString()).ToArray();

    [Fact]
    public void Wildcard_mapping_on_a_dual_stack_container_maps_both_families_localhost_and_masquerade_sets()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Tcp)], V4, V6, Defaults);
        Assert.Equal(
        [
            "pm-any4 * tcp 8080 -> 10.88.0.5 . 80",
            "pm-addr4 127.0.0.1 tcp 8080 -> 10.88.0.5 . 80",
            "pm-dest4 10.88.0.5",
            "pm-any6 * tcp 8080 -> fd00:88::5 . 80",
            "pm-dest6 fd00:88::5",
        ], Describe(plan));
    }

    [Fact]
    public void Host_ip_mapping_applies_only_to_its_family()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(53, 5353, PortProtocol.Udp, IPAddress.Parse("203.0.113.1"))], V4, V6, Defaults);
        Assert.Equal(["pm-addr4 203.0.113.1 udp 53 -> 10.88.0.5 . 5353", "pm-dest4 10.88.0.5"], Describe(plan));
    }

    [Fact]
    public void Unspecified_host_ip_means_every_address_of_that_family_only()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Sctp, IPAddress.IPv6Any)], V4, V6, Defaults);
        Assert.Equal(["pm-any6 * sctp 8080 -> fd00:88::5 . 80", "pm-dest6 fd00:88::5"], Describe(plan));
    }

    [Fact]
    public void Snat_off_maps_no_localhost_and_masquerades_nothing()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Tcp)], V4, null, Defaults with { Snat = false });
        Assert.Equal(["pm-any4 * tcp 8080 -> 10.88.0.5 . 80"], Describe(plan));
    }

    [Fact]
    public void Localhost_off_keeps_hairpin_masquerade()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Tcp)], V4, null, Defaults with { Localhost = false });
        Assert.Equal(["pm-any4 * tcp 8080 -> 10.88.0.5 . 80", "pm-dest4 10.88.0.5"], Describe(plan));
    }

    [Fact]
    public void MasqAll_puts_the_container_in_the_masquerade_all_set()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Tcp)], null, V6, Defaults with { MasqueradeAll = true });
        Assert.Equal(["pm-any6 * tcp 8080 -> fd00:88::5 . 80", "pm-masqall6 fd00:88::5"], Describe(plan));
    }

    [Fact]
    public void Explicit_loopback_host_ip_and_wildcard_localhost_collapse_to_one_element()
    {
        var plan = PortMappingRules.PlanElements(
            [new PortMapping(8080, 80, PortProtocol.Tcp), new PortMapping(8080, 80, PortProtocol.Tcp, IPAddress.Loopback)], V4, null, Defaults);
        Assert.Single(plan, e => e.Set == PortMappingSet.Addr4);
    }

    [Fact]
    public void Keys_and_values_are_laid_out_as_the_concatenated_map_types()
    {
        var plan = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Udp, IPAddress.Parse("203.0.113.1"))], V4, null, Defaults);
        PortMappingElement e = plan[0];
        Assert.Equal("cb00710111000000" + "1f900000", Convert.ToHexString(e.Key).ToLowerInvariant()); // addr . proto(pad) . port(pad)
        Assert.Equal("0a580005" + "00500000", Convert.ToHexString(e.Data!).ToLowerInvariant());
        var any = PortMappingRules.PlanElements([new PortMapping(8080, 80, PortProtocol.Tcp)], V4, null, Defaults)[0];
        Assert.Equal("06000000" + "1f900000", Convert.ToHexString(any.Key).ToLowerInvariant());
    }

    [Fact]
    public void Records_round_trip_every_element_kind()
    {
        var plan = PortMappingRules.PlanElements(
            [new PortMapping(8080, 80, PortProtocol.Tcp), new PortMapping(9090, 90, PortProtocol.Udp, IPAddress.Parse("fd00::1")), new PortMapping(7070, 70, PortProtocol.Sctp, IPAddress.Parse("192.0.2.1"))],
            V4, V6, Defaults);
        foreach (PortMappingElement e in plan)
        {
            PortMappingElement? back = PortMappingRules.ElementOfRecord(PortMappingRules.RecordData(e));
            Assert.NotNull(back);
            Assert.Equal(e.Set, back!.Set);
            Assert.Equal(e.Address, back.Address);
            Assert.Equal(Convert.ToHexString(e.Key), Convert.ToHexString(back.Key));
        }
        Assert.Equal(28, PortMappingRules.RecordData(plan[0]).Length);
    }

    [Fact]
    public void Record_keys_differ_per_attachment_and_index()
    {
        var a = new Attachment("abc", "eth0");
        Assert.NotEqual(PortMappingRules.RecordKey(a, 0), PortMappingRules.RecordKey(new Attachment("abc", "eth1"), 0));
        Assert.NotEqual(PortMappingRules.RecordKey(a, 0), PortMappingRules.RecordKey(a, 1));
        Assert.Equal(PortMappingRules.RecordKey(a, 3), PortMappingRules.RecordKey(new Attachment("abc", "eth0"), 3));
    }

    [Fact]
    public void Dnat_rules_compile_like_nft()
    {
        // `nft --debug=netlink` for:
        //   fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pm-addr4
        //   ip6 daddr != ::1 fib daddr type local dnat ip6 to meta l4proto . th dport map @pm-any6
        var rules = PortMappingRules.DnatRules(PortMappingRules.PreroutingChain);
        Assert.Equal(4, rules.Count);
        Assert.Equal(
            "[ fib result 3 flags 0x2 => reg 1 ] [ cmp eq reg 1 0x02000000 ] [ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x02 ] "
            + "[ payload load 4b @ Network header + 16 => reg 1 ] [ meta load L4Proto => reg 9 ] [ payload load 2b @ Transport header + 2 => reg 10 ] "
            + "[ lookup reg 1 set pm-addr4 dreg 1 ] [ nat dnat IPv4 addr_min reg 1 proto_min reg 9 flags 0x3 ]",
            rules[0].ToString());
        Assert.Contains("[ payload load 16b @ Network header + 24 => reg 1 ] [ cmp neq reg 1 0x00000000000000000000000000000001 ]", rules[3].ToString());
        Assert.EndsWith("[ lookup reg 1 set pm-any6 dreg 1 ] [ nat dnat IPv6 addr_min reg 1 proto_min reg 2 flags 0x3 ]", rules[3].ToString());
        Assert.All(rules, r => Assert.Equal(PortMappingRules.RuleComment, r.Comment));
    }

    [Fact]
    public void Skeleton_is_constant_sized_and_carries_each_mark_bit_once()
    {
        NftTransaction one = PortMappingRules.Skeleton(new NftTransaction(), [13]);
        NftTransaction two = PortMappingRules.Skeleton(new NftTransaction(), [13, 14, 13]);
        Assert.Equal(one.Count + 1, two.Count);
        Assert.Contains("add map inet sharpcni pm-records", one.Describe());
        Assert.Equal(2, two.Describe().Count(d => d == "flush chain inet sharpcni pm-prerouting" || d == "flush chain inet sharpcni pm-output"));
        Assert.Throws<ArgumentOutOfRangeException>(() => PortMappingRules.MarkRule(32));
    }
}
