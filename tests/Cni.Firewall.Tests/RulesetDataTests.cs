using Cni.Firewall;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall.Tests;

/// <summary>The generated rulesets, as data: no kernel, no root.</summary>
public class RulesetDataTests
{
    private static readonly Attachment Ctr = new("abc123", "eth0");

    [Fact]
    public void Chain_name_is_derived_from_the_tag_and_stable()
    {
        Assert.Equal(Ctr.ChainName("masq-"), new Attachment("abc123", "eth0").ChainName("masq-"));
        Assert.NotEqual(Ctr.ChainName("masq-"), new Attachment("abc123", "eth1").ChainName("masq-"));
        Assert.Matches("^masq-[0-9a-f]{16}$", Ctr.ChainName("masq-"));
        Assert.Equal("abc123 eth0", Ctr.Tag);
        Assert.True(Attachment.TryParseTag("abc123 eth0 mynet", out Attachment parsed));
        Assert.Equal(Ctr, parsed);
    }

    [Fact]
    public void Masquerade_add_is_one_chain_and_one_element_per_address()
    {
        NftTransaction tx = MasqueradeRules.PlanAdd("mynet", Ctr, [IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("fd00:88::5/64")]);
        string chain = Ctr.ChainName("masq-");
        Assert.Equal(
        [
            "add table inet sharpcni",
            "add map inet sharpcni masq-ip4",
            "add map inet sharpcni masq-ip6",
            "add chain inet sharpcni postrouting",
            "flush chain inet sharpcni postrouting",
            "add rule inet sharpcni postrouting",
            "add rule inet sharpcni postrouting",
            $"add chain inet sharpcni {chain}",
            $"flush chain inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add rule inet sharpcni {chain}",
            $"add element inet sharpcni masq-ip4 {{ 0a580005 : goto {chain} comment \"abc123 eth0\" }}",
            $"add element inet sharpcni masq-ip6 {{ fd000088000000000000000000000005 : goto {chain} comment \"abc123 eth0\" }}",
        ], tx.Describe());
    }

    [Fact]
    public void Masquerade_chain_returns_for_own_subnets_and_multicast_then_masquerades_each_address()
    {
        var rules = MasqueradeRules.ChainRules(Ctr, [IPPrefix.Parse("10.88.0.5/16")], [IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("fd00::/64")]);
        Assert.Equal(3, rules.Count); // the v6 subnet is irrelevant to a v4-only container
        Assert.All(rules, r => Assert.Equal("abc123 eth0", r.Comment));
        Assert.Equal("[ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 2b @ Network header + 16 => reg 1 ] [ cmp eq reg 1 0x0a58 ] [ immediate reg 0 return ]", rules[0].ToString());
        Assert.Equal("[ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ Network header + 16 => reg 1 ] [ bitwise reg 1 = (reg 1 & 0xf0000000) ^ 0x00000000 ] [ cmp eq reg 1 0xe0000000 ] [ immediate reg 0 return ]", rules[1].ToString());
        Assert.Equal("[ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ Network header + 12 => reg 1 ] [ cmp eq reg 1 0x0a580005 ] [ masq ]", rules[2].ToString());
        Assert.Equal(["10.88.0.5"], MasqueradeRules.MasqueradedAddresses(rules).Select(a => a.ToString()));
    }

    [Fact]
    public void Excluded_subnets_default_to_the_container_networks()
    {
        var tx = MasqueradeRules.PlanAdd("n", Ctr, [IPPrefix.Parse("10.88.3.5/22")]);
        // table, 2 maps, base chain (add, flush, 2 rules), own chain (add, flush, 3 rules), 1 element
        Assert.Equal(1 + 2 + 4 + 5 + 1, tx.Count);
        var rules = MasqueradeRules.ChainRules(Ctr, [IPPrefix.Parse("10.88.3.5/22")], [IPPrefix.Parse("10.88.3.5/22").Network]);
        Assert.Contains("0x0a580000", rules[0].ToString()); // 10.88.0.0/22 via bitwise
    }

    [Fact]
    public void Internal_network_is_two_elements_and_a_constant_base_chain()
    {
        var lines = InternalNetworkRules.PlanEnsure("br-int", "net1").Describe();
        Assert.Contains("add chain inet sharpcni forward", lines);
        Assert.Equal(3, lines.Count(l => l == "add rule inet sharpcni forward"));
        Assert.Contains(lines, l => l.StartsWith("add element inet sharpcni internal-bridges", StringComparison.Ordinal) && l.Contains("comment \"net1\""));
        Assert.Contains(lines, l => l.StartsWith("add element inet sharpcni internal-hairpin", StringComparison.Ordinal));
    }

    [Fact]
    public void Invalid_names_are_refused_before_touching_the_kernel()
    {
        Assert.ThrowsAny<CniException>(() => Attachment.Create("bad id/..", "eth0"));
        Assert.ThrowsAny<CniException>(() => Attachment.Create("abc", "bad/name"));
        Assert.ThrowsAny<CniException>(() => Attachment.Create(new string('a', 200), "eth0"));
    }
}
