using System.Net;
using System.Net.Sockets;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// The firewall plugin's accept rules, in iptables' own <c>filter</c> tables (<c>ip filter</c>, <c>ip6 filter</c>), where
/// the reference's iptables backend puts them. They have to be there: with iptables-nft, a FORWARD policy of DROP (as
/// Docker sets it) is the policy of the base chain <c>ip filter FORWARD</c>, and a packet is forwarded only when
/// every base chain on the hook accepts it: an accept in our own table (<see cref="SharpCniTable"/>) ends only our chain.
/// <code>
/// table ip filter {                                   (iptables-nft's table; made as iptables would make it if missing)
///   chain FORWARD { type filter hook forward priority filter; policy …;      (the policy is never touched)
///     counter jump CNI-FORWARD comment "CNI firewall plugin rules" … }          (inserted first, once)
///   chain CNI-FORWARD {
///     counter jump CNI-ADMIN comment "CNI firewall plugin admin overrides"      (first, once)
///     ip daddr 10.88.0.5 match conntrack --ctstate RELATED,ESTABLISHED counter accept comment "sharpcni CID IF NET"
///     ip saddr 10.88.0.5 counter accept comment "sharpcni CID IF NET" }
///   chain CNI-ADMIN { }                               (the administrator's; never written to)
/// }
/// </code>
/// Every rule is written with expressions iptables-nft reads back (payload + cmp, the xtables <c>conntrack</c> match
/// through nft_compat, counters, a comment in the rule's userdata), so <c>iptables -L</c>/<c>-S</c> keep working on the
/// table: a native <c>ct state</c> there would make iptables-nft refuse the whole chain as incompatible (measured on
/// iptables 1.8.9). The per-attachment rules carry the attachment and network in their comment, so DEL and GC find
/// them without prevResult or the container's namespace. Shared chains and jumps stay after the last DEL, as the
/// reference leaves them (CNI-ADMIN holds the administrator's rules).
/// </summary>
public sealed class ForwardAcceptRules
{
    public const string Table = "filter";
    public const string ForwardChain = "FORWARD";
    public const string PrivateChain = "CNI-FORWARD";
    public const string DefaultAdminChain = "CNI-ADMIN";
    public const string JumpComment = "CNI firewall plugin rules";
    public const string AdminComment = "CNI firewall plugin admin overrides";
    /// <summary>Start of an attachment rule's comment: then the container ID, the interface and the network.</summary>
    public const string TagPrefix = "sharpcni ";

    private readonly NftConnection _nft;

    public ForwardAcceptRules(NftConnection nft) => _nft = nft;

    // ---- data ------------------------------------------------------------------------------------

    public static NftFamily FamilyOf(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv4MappedToIPv6 ? NftFamily.IPv6 : NftFamily.IPv4;

    /// <summary>The comment of an attachment's rules: "sharpcni CID IFNAME NETWORK".</summary>
    public static string Comment(Attachment attachment, string network)
    {
        string comment = TagPrefix + attachment.Tag + " " + network;
        if (System.Text.Encoding.UTF8.GetByteCount(comment) > SharpCniTable.MaxCommentLength)
            throw CniException.InvalidConfig($"container ID, interface and network name too long for a firewall comment ({comment.Length} > {SharpCniTable.MaxCommentLength})");
        return comment;
    }

    /// <summary>Reads a comment written by <see cref="Comment"/>: the attachment and the network.</summary>
    public static bool TryParseComment(string? comment, out Attachment attachment, out string network)
    {
        attachment = default;
        network = "";
        if (comment is null || !comment.StartsWith(TagPrefix, StringComparison.Ordinal)) return false;
        string[] words = comment[TagPrefix.Length..].Split(' ');
        if (words.Length != 3) return false;
        attachment = new Attachment(words[0], words[1]);
        network = words[2];
        return true;
    }

    /// <summary>FORWARD's jump to CNI-FORWARD.</summary>
    public static NftRule JumpRule(NftFamily family) =>
        new NftRuleBuilder(family).Counter().Verdict(NftVerdict.Jump(PrivateChain)).Build(Table, ForwardChain, JumpComment);

    /// <summary>CNI-FORWARD's jump to the administrator's chain.</summary>
    public static NftRule AdminRule(NftFamily family, string adminChain) =>
        new NftRuleBuilder(family).Counter().Verdict(NftVerdict.Jump(adminChain)).Build(Table, PrivateChain, AdminComment);

    /// <summary>The reference's two rules for one container address: replies to it, anything from it.</summary>
    public static IReadOnlyList<NftRule> AddressRules(IPAddress address, string comment)
    {
        NftFamily family = FamilyOf(address);
        int bits = family == NftFamily.IPv6 ? 128 : 32;
        return
        [
            new NftRuleBuilder(family).MatchDestination(address, bits)
                .Add(NftMatch.ConntrackState(NftMatch.CtStateRelated | NftMatch.CtStateEstablished)).Counter().Accept()
                .Build(Table, PrivateChain, comment),
            new NftRuleBuilder(family).MatchSource(address, bits).Counter().Accept().Build(Table, PrivateChain, comment),
        ];
    }

    /// <summary>The expressions that make a rule what it is: counters (their values change) left out.</summary>
    public static bool SameMatch(NftRule a, NftRule b)
    {
        var x = a.Expressions.Where(e => e is not NftCounter).ToArray();
        var y = b.Expressions.Where(e => e is not NftCounter).ToArray();
        return x.SequenceEqual(y);
    }

    private static bool IsJumpTo(NftRule rule, string chain) =>
        rule.Expressions.Any(e => e is NftImmediate { Verdict: { Code: NftVerdictCode.Jump } v } && v.Chain == chain);

    // ---- effects ---------------------------------------------------------------------------------

    private IReadOnlyList<NftChain>? Chains(NftFamily family)
    {
        try
        {
            return _nft.ListChains(family, Table);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return null;
        }
    }

    private IReadOnlyList<NftRule> Rules(NftFamily family, string chain)
    {
        try
        {
            return _nft.ListRules(family, Table, chain);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return [];
        }
    }

    /// <summary>
    /// Lets the attachment's addresses through FORWARD, atomically per family: the chains and jumps when missing, the
    /// attachment's earlier rules (an ADD again) replaced.
    /// </summary>
    public void Add(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain = DefaultAdminChain)
    {
        string comment = Comment(attachment, network);
        foreach (NftFamily family in new[] { NftFamily.IPv4, NftFamily.IPv6 })
        {
            var mine = addresses.Where(a => FamilyOf(a) == family).ToArray();
            if (mine.Length == 0) continue;
            var tx = new NftTransaction();
            IReadOnlyList<NftChain>? chains = Chains(family);
            bool Has(string name) => chains?.Any(c => c.Name == name) == true;
            if (chains is not { Count: > 0 }) tx.AddTable(new NftTable(family, Table)); // a dump of a missing table is empty
            if (!Has(ForwardChain))
                tx.AddChain(new NftChain(family, Table, ForwardChain) { Base = NftBaseChain.Filter(NftHook.Forward) });
            if (!Has(PrivateChain)) tx.AddChain(new NftChain(family, Table, PrivateChain));
            if (!Has(adminChain)) tx.AddChain(new NftChain(family, Table, adminChain));
            if (!Has(ForwardChain) || !Rules(family, ForwardChain).Any(r => IsJumpTo(r, PrivateChain)))
                tx.InsertRule(JumpRule(family));
            var privateRules = Has(PrivateChain) ? Rules(family, PrivateChain) : [];
            if (!privateRules.Any(r => IsJumpTo(r, adminChain)))
                tx.InsertRule(AdminRule(family, adminChain));
            foreach (NftRule old in privateRules)
            {
                if (TryParseComment(old.Comment, out var a, out _) && a == attachment)
                    tx.DeleteRule(family, Table, PrivateChain, old.Handle);
            }
            foreach (IPAddress address in mine)
                foreach (NftRule rule in AddressRules(address, comment))
                    tx.AddRule(rule);
            _nft.Commit(tx);
        }
    }

    /// <summary>
    /// Removes the attachment's rules (both families); returns how many. Nothing there is not an error. With the
    /// container's addresses (from prevResult), untagged rules the reference plugin made for them go too, so a node
    /// whose binaries were swapped in place does not keep the reference's rules of a container DEL'd by ours.
    /// </summary>
    public int Remove(Attachment attachment, IReadOnlyList<IPAddress>? addresses = null)
    {
        var untagged = new List<NftRule>();
        foreach (IPAddress address in addresses ?? [])
            untagged.AddRange(AddressRules(address, ""));
        return RemoveWhere((a, _) => a == attachment, untagged);
    }

    /// <summary>Removes the rules of <paramref name="network"/>'s attachments that are not in <paramref name="valid"/>.</summary>
    public int Gc(string network, IReadOnlyCollection<Attachment> valid) => RemoveWhere((a, n) => n == network && !valid.Contains(a), []);

    private int RemoveWhere(Func<Attachment, string, bool> stale, IReadOnlyList<NftRule> untagged)
    {
        int removed = 0;
        foreach (NftFamily family in new[] { NftFamily.IPv4, NftFamily.IPv6 })
        {
            var tx = new NftTransaction();
            foreach (NftRule rule in Rules(family, PrivateChain))
            {
                bool tagged = TryParseComment(rule.Comment, out var a, out string n);
                if ((tagged && stale(a, n)) || (!tagged && untagged.Any(u => u.Family == family && SameMatch(u, rule))))
                {
                    tx.DeleteRule(family, Table, PrivateChain, rule.Handle);
                    removed++;
                }
            }
            _nft.Commit(tx);
        }
        return removed;
    }

    /// <summary>What is missing for the attachment's addresses (the reference's CHECK: chains, both jumps, each rule).</summary>
    public IReadOnlyList<string> Check(string network, Attachment attachment, IReadOnlyList<IPAddress> addresses, string adminChain = DefaultAdminChain)
    {
        var problems = new List<string>();
        string comment = Comment(attachment, network);
        foreach (NftFamily family in new[] { NftFamily.IPv4, NftFamily.IPv6 })
        {
            var mine = addresses.Where(a => FamilyOf(a) == family).ToArray();
            if (mine.Length == 0) continue;
            string fam = family == NftFamily.IPv6 ? "ip6" : "ip";
            IReadOnlyList<NftChain>? chains = Chains(family);
            foreach (string chain in new[] { ForwardChain, PrivateChain, adminChain })
                if (chains?.Any(c => c.Name == chain) != true) problems.Add($"chain {fam} {Table} {chain} is missing");
            if (problems.Count > 0) continue;
            if (!Rules(family, ForwardChain).Any(r => IsJumpTo(r, PrivateChain)))
                problems.Add($"expected FORWARD rule jump {PrivateChain} not found ({fam} {Table})");
            var rules = Rules(family, PrivateChain);
            if (!rules.Any(r => IsJumpTo(r, adminChain)))
                problems.Add($"expected {PrivateChain} rule jump {adminChain} not found ({fam} {Table})");
            foreach (IPAddress address in mine)
                foreach (NftRule wanted in AddressRules(address, comment))
                    if (!rules.Any(r => r.Comment == comment && SameMatch(r, wanted)))
                        problems.Add($"expected rule for {address} not found: {wanted}");
        }
        return problems;
    }
}
