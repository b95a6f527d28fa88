using System.Net;
using Cni.Firewall;
using Cni.Linux.Netfilter;
using Cni.Netfilter.Tests;
using Cni.Spec;

namespace Cni.Firewall.Tests;

public class ForwardAcceptRulesDataTests
{
    [Fact]
    public void The_conntrack_match_is_iptables_nft_s_encoding_of_ctstate_RELATED_ESTABLISHED()
    {
        // Captured from `iptables-nft -A … -m conntrack --ctstate RELATED,ESTABLISHED` (1.8.9, strace): NFTA_MATCH_INFO
        // is struct xt_conntrack_mtinfo3 padded to 168 bytes, all zero but match_flags = XT_CONNTRACK_STATE at 146 and
        // state_mask = ESTABLISHED|RELATED (6) at 150.
        var m = NftMatch.ConntrackState(NftMatch.CtStateRelated | NftMatch.CtStateEstablished);
        Assert.Equal(("conntrack", 3u, 168), (m.MatchName, m.Revision, m.Info.Length));
        var nonZero = m.Info.Select((b, i) => (i, b)).Where(x => x.b != 0).ToArray();
        Assert.Equal([(146, (byte)1), (150, (byte)6)], nonZero);
        Assert.Equal((ushort)6, m.ConntrackStateMask);
    }

    [Fact]
    public void Address_rules_are_the_reference_s_pair_with_the_attachment_s_comment()
    {
        string comment = ForwardAcceptRules.Comment(new Attachment("abc", "eth0"), "podman");
        Assert.Equal("sharpcni abc eth0 podman", comment);
        var rules = ForwardAcceptRules.AddressRules(IPAddress.Parse("10.88.0.5"), comment);
        Assert.Equal(2, rules.Count);
        Assert.All(rules, r => Assert.Equal((NftFamily.IPv4, "filter", "CNI-FORWARD", comment), (r.Family, r.Table, r.Chain, r.Comment)));
        Assert.Equal("[ payload load 4b @ Network header + 16 => reg 1 ] [ cmp eq reg 1 0x0a580005 ] [ match name conntrack rev 3 ] [ counter pkts 0 bytes 0 ] [ immediate reg 0 accept ]",
            rules[0].ToString());
        Assert.StartsWith("[ payload load 4b @ Network header + 12 => reg 1 ] [ cmp eq reg 1 0x0a580005 ]", rules[1].ToString());
        var v6 = ForwardAcceptRules.AddressRules(IPAddress.Parse("fd00::5"), comment);
        Assert.All(v6, r => Assert.Equal(NftFamily.IPv6, r.Family));
    }

    [Theory]
    [InlineData("sharpcni abc eth0 podman", true)]
    [InlineData("sharpcni abc eth0", false)]
    [InlineData("CNI firewall plugin rules", false)]
    [InlineData(null, false)]
    public void Comments_parse_back_to_attachment_and_network(string? comment, bool parses)
    {
        Assert.Equal(parses, ForwardAcceptRules.TryParseComment(comment, out var a, out string network));
        if (parses) Assert.Equal((new Attachment("abc", "eth0"), "podman"), (a, network));
    }
}

/// <summary>The rules in iptables-nft's filter table of a throwaway namespace whose FORWARD policy iptables set to DROP.</summary>
public sealed class ForwardAcceptRulesKernelTests : IDisposable
{
    private readonly ThrowawayNamespace _node = new();
    private readonly NftConnection _nft;
    private static readonly Attachment A = new("ctr1", "eth0");

    public ForwardAcceptRulesKernelTests()
    {
        _nft = _node.Nft();
    }

    public void Dispose()
    {
        _nft.Dispose();
        _node.Dispose();
    }

    private bool HasIptables => _node.TryExec("iptables", "-V").ExitCode == 0;

    [KernelFact]
    public void Rules_land_where_iptables_reads_them_and_leave_its_policy_alone()
    {
        if (!HasIptables) return;
        _node.Exec("iptables", "-P", "FORWARD", "DROP");
        _node.Exec("iptables", "-A", "FORWARD", "-i", "lo", "-j", "ACCEPT");
        var rules = new ForwardAcceptRules(_nft);
        rules.Add("net1", A, [IPAddress.Parse("10.88.0.5")]);
        string s = _node.Exec("iptables", "-S");
        Assert.Contains("-P FORWARD DROP", s);
        Assert.Contains("-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD", s);
        Assert.Contains("-A FORWARD -i lo -j ACCEPT", s);
        Assert.Contains("-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN", s);
        Assert.Contains("-A CNI-FORWARD -d 10.88.0.5/32 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"sharpcni ctr1 eth0 net1\" -j ACCEPT", s);
        Assert.Contains("-A CNI-FORWARD -s 10.88.0.5/32 -m comment --comment \"sharpcni ctr1 eth0 net1\" -j ACCEPT", s);
        Assert.Empty(rules.Check("net1", A, [IPAddress.Parse("10.88.0.5")]));
        // The jump is inserted first, once.
        rules.Add("net1", new Attachment("ctr2", "eth0"), [IPAddress.Parse("10.88.0.6")]);
        Assert.Equal(1, _node.Exec("iptables", "-S").Split('\n').Count(l => l.Contains("-j CNI-FORWARD")));
        Assert.StartsWith("-A FORWARD -m comment --comment \"CNI firewall plugin rules\"", _node.Exec("iptables", "-S", "FORWARD").Split('\n')[1]);

        Assert.Equal(2, rules.Remove(A));
        Assert.Equal(0, rules.Remove(A));
        Assert.DoesNotContain("10.88.0.5", _node.Exec("iptables", "-S"));
        Assert.NotEmpty(rules.Check("net1", A, [IPAddress.Parse("10.88.0.5")]));
        Assert.Equal(2, rules.Gc("net1", []));
        Assert.DoesNotContain("sharpcni", _node.Exec("iptables", "-S"));
        Assert.Contains("-P FORWARD DROP", _node.Exec("iptables", "-S"));
    }

    [KernelFact]
    public void An_add_again_replaces_the_attachment_s_rules()
    {
        var rules = new ForwardAcceptRules(_nft);
        rules.Add("net1", A, [IPAddress.Parse("10.88.0.5")]);
        rules.Add("net1", A, [IPAddress.Parse("10.88.0.7")]);
        var mine = _nft.ListRules(NftFamily.IPv4, "filter", "CNI-FORWARD").Where(r => r.Comment == "sharpcni ctr1 eth0 net1").ToArray();
        Assert.Equal(2, mine.Length);
        Assert.All(mine, r => Assert.Contains("0x0a580007", r.ToString()));
        Assert.Empty(rules.Check("net1", A, [IPAddress.Parse("10.88.0.7")]));
    }

    [KernelFact]
    public void Remove_with_the_addresses_also_takes_the_reference_s_untagged_rules_and_nothing_else()
    {
        if (!HasIptables) return;
        // What the reference's iptables backend leaves for 10.88.0.5 (and an admin's rule that must stay).
        _node.Exec("iptables", "-N", "CNI-FORWARD");
        _node.Exec("iptables", "-A", "CNI-FORWARD", "-d", "10.88.0.5/32", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT");
        _node.Exec("iptables", "-A", "CNI-FORWARD", "-s", "10.88.0.5/32", "-j", "ACCEPT");
        _node.Exec("iptables", "-A", "CNI-FORWARD", "-s", "10.88.0.9/32", "-j", "ACCEPT");
        var rules = new ForwardAcceptRules(_nft);
        Assert.Equal(0, rules.Remove(A));
        Assert.Equal(2, rules.Remove(A, [IPAddress.Parse("10.88.0.5")]));
        string s = _node.Exec("iptables", "-S", "CNI-FORWARD");
        Assert.DoesNotContain("10.88.0.5", s);
        Assert.Contains("-A CNI-FORWARD -s 10.88.0.9/32 -j ACCEPT", s);
    }

    [KernelFact]
    public void Without_an_iptables_table_it_is_made_as_iptables_would_make_it()
    {
        if (!HasIptables) return;
        var rules = new ForwardAcceptRules(_nft);
        rules.Add("net1", A, [IPAddress.Parse("10.88.0.5"), IPAddress.Parse("fd00::5")]);
        Assert.Contains("-P FORWARD ACCEPT", _node.Exec("iptables", "-S"));
        Assert.Contains("-A CNI-FORWARD -s fd00::5/128 -m comment --comment \"sharpcni ctr1 eth0 net1\" -j ACCEPT", _node.Exec("ip6tables", "-S"));
        Assert.Equal(4, rules.Remove(A));
    }
}
