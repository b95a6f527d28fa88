using Cni.Firewall;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall.Tests;

/// <summary>The generated rulesets, as data: no kernel, no root.</summary>
public class RulesetDataTests
{
    private static readonly Attachment Ctr = new("abc123", "eth0");

    [Fact]
    public void Tag_names_container_and_interface_and_parses_back_from_a_comment()
    {
        Assert.Equal("abc123 eth0", Ctr.Tag);
        Assert.True(Attachment.TryParseTag("abc123 eth0 mynet", out Attachment parsed));
        Assert.Equal(Ctr, parsed);
        Assert.False(Attachment.TryParseTag("abc123", out _));
    }

    [Fact]
    public void Masquerade_add_is_a_constant_skeleton_and_a_few_elements()
    {
        NftTransaction tx = MasqueradeRules.PlanAdd("mynet", Ctr, [IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("fd00:88::5/64")]);
        string[] lines = tx.Describe().ToArray();
        const string net6 = "fd000088000000000000000000000000", last6 = "fd00008800000000ffffffffffffffff";
        Assert.Equal(
        [
            "add table inet sharpcni",
            "add set inet sharpcni masq4",
            "add set inet sharpcni masq6",
            "add set inet sharpcni masq4-exempt",
            "add set inet sharpcni masq6-exempt",
            "add set inet sharpcni masq-attachments",
            "add chain inet sharpcni postrouting",
            "flush chain inet sharpcni postrouting",
            "add rule inet sharpcni postrouting",
            "add rule inet sharpcni postrouting",
            "add element inet sharpcni masq4-exempt { 0a5800000a580000-0a58ffff0a58ffff comment \"mynet\" }",
            $"add element inet sharpcni masq6-exempt {{ {net6}{net6}-{last6}{last6} comment \"mynet\" }}",
            "add element inet sharpcni masq4 { 0a580005 comment \"abc123 eth0\" }",
            "add element inet sharpcni masq6 { fd000088000000000000000000000005 comment \"abc123 eth0\" }",
        ], lines[..^1]);
        Assert.StartsWith("add element inet sharpcni masq-attachments", lines[^1]);
        Assert.Contains("comment \"abc123 eth0 mynet\"", lines[^1]);
        Assert.DoesNotContain(lines, l => l.Contains("goto", StringComparison.Ordinal) || l.Contains("jump", StringComparison.Ordinal));
    }

    [Fact]
    public void Base_rules_are_what_nft_compiles()
    {
        // nft --debug=netlink add rule inet t postrouting ip saddr @masq4 ip saddr . ip daddr != @masq4-exempt ip daddr != 224.0.0.0/4 masquerade
        var rules = MasqueradeRules.BaseRules();
        Assert.Equal(2, rules.Count);
        Assert.Equal("[ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x02 ] [ payload load 4b @ Network header + 12 => reg 1 ] [ lookup reg 1 set masq4 ] "
            + "[ payload load 4b @ Network header + 12 => reg 1 ] [ payload load 4b @ Network header + 16 => reg 9 ] [ lookup reg 1 set masq4-exempt 0x1 ] "
            + "[ payload load 4b @ Network header + 16 => reg 1 ] [ bitwise reg 1 = (reg 1 & 0xf0000000) ^ 0x00000000 ] [ cmp neq reg 1 0xe0000000 ] [ masq ]", rules[0].ToString());
        Assert.Equal("[ meta load NfProto => reg 1 ] [ cmp eq reg 1 0x0a ] [ payload load 16b @ Network header + 8 => reg 1 ] [ lookup reg 1 set masq6 ] "
            + "[ payload load 16b @ Network header + 8 => reg 1 ] [ payload load 16b @ Network header + 24 => reg 2 ] [ lookup reg 1 set masq6-exempt 0x1 ] "
            + "[ payload load 1b @ Network header + 24 => reg 1 ] [ cmp neq reg 1 0xff ] [ masq ]", rules[1].ToString());
    }

    [Fact]
    public void Exemptions_pair_each_container_network_with_each_excluded_subnet_of_its_family()
    {
        Assert.Contains("add element inet sharpcni masq4-exempt { 0a5800000a580000-0a5803ff0a5803ff comment \"n\" }",
            MasqueradeRules.PlanAdd("n", Ctr, [IPPrefix.Parse("10.88.3.5/22")]).Describe());

        var record = MasqueradeRecord.Create(
            [IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("10.88.0.6/16"), IPPrefix.Parse("10.88.0.5/16")],
            [IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("192.168.0.0/24"), IPPrefix.Parse("10.88.7.0/24"), IPPrefix.Parse("fd00::/64")]);
        Assert.Equal(["10.88.0.5/16", "10.88.0.6/16"], record.Addresses.Select(a => a.ToString()));
        Assert.Equal([IPPrefix.Parse("10.88.0.0/16"), IPPrefix.Parse("192.168.0.0/24")], record.Excluded); // nested and v6 subnets dropped
        Assert.Equal(
            [(IPPrefix.Parse("10.88.0.0/16"), IPPrefix.Parse("10.88.0.0/16")), (IPPrefix.Parse("10.88.0.0/16"), IPPrefix.Parse("192.168.0.0/24"))],
            record.Exemptions);
    }

    [Fact]
    public void Masquerade_record_round_trips_and_drops_an_address()
    {
        var record = MasqueradeRecord.Create([IPPrefix.Parse("10.88.0.5/16"), IPPrefix.Parse("fd00::5/64")], [IPPrefix.Parse("10.88.0.0/16"), IPPrefix.Parse("fd00::/64")]);
        byte[] bytes = record.Encode();
        Assert.Equal(1 + 6 + 18 + 6 + 18, bytes.Length);
        Assert.True(MasqueradeRecord.TryDecode(bytes, out MasqueradeRecord back));
        Assert.Equal(record, back);
        var rest = record.Without(System.Net.IPAddress.Parse("fd00::5"));
        Assert.Equal(["10.88.0.5/16"], rest.Addresses.Select(a => a.ToString()));
        Assert.Equal([IPPrefix.Parse("10.88.0.0/16")], rest.Excluded);
        Assert.False(MasqueradeRecord.TryDecode([9, 1, 2], out _));
        Assert.False(MasqueradeRecord.TryDecode([2, 0x04, 10, 88], out _));
        Assert.False(MasqueradeRecord.TryDecode([2, 0x04, 10, 88, 0, 5, 33], out _));
    }

    [Fact]
    public void Index_element_keeps_comment_and_record_within_the_kernel_userdata_limit()
    {
        var record = MasqueradeRecord.Create([IPPrefix.Parse("10.88.0.5/16")], [IPPrefix.Parse("10.88.0.0/16")]);
        NftSetElement element = MasqueradeRules.IndexElement(Ctr, "mynet", record);
        Assert.Equal("abc123 eth0 mynet", element.Comment);
        Assert.Equal(16, element.Key.Length);
        Assert.Equal(MasqueradeRules.IndexKey(Ctr), MasqueradeRules.IndexKey(new Attachment("abc123", "eth0")));
        Assert.NotEqual(MasqueradeRules.IndexKey(Ctr), MasqueradeRules.IndexKey(new Attachment("abc123", "eth1")));

        var many = Enumerable.Range(1, 13).Select(i => IPPrefix.Parse($"fd{i:x2}::/64")).ToArray();
        Assert.ThrowsAny<CniException>(() => MasqueradeRules.IndexElement(Ctr, "mynet", MasqueradeRecord.Create([IPPrefix.Parse("fd01::5/64")], many)));
        Assert.ThrowsAny<CniException>(() => MasqueradeRules.IndexElement(new Attachment(new string('a', 100), "eth0"), new string('n', 30), record));
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
        Assert.ThrowsAny<CniException>(() => MasqueradeRules.PlanAdd("net1", Attachment.Create(new string('a', 200), "eth0"), [IPPrefix.Parse("10.88.0.5/24")]));
    }
}
