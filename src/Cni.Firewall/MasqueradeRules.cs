using System.Net;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// Masquerade for the bridge plugin's ipMasq: traffic from a container address to anywhere outside
/// its network's subnets is masqueraded; multicast (224.0.0.0/4, ff00::/8) never is.
/// <para>Layout in <c>inet sharpcni</c>: two constant rules and plain sets; no per-container chains, no
/// jump or goto anywhere.</para>
/// <code>
/// chain postrouting { type nat hook postrouting priority srcnat; policy accept;
///     ip saddr @masq4 ip saddr . ip daddr != @masq4-exempt ip daddr != 224.0.0.0/4 masquerade
///     ip6 saddr @masq6 ip6 saddr . ip6 daddr != @masq6-exempt ip6 daddr != ff00::/8 masquerade }
/// set masq4 { type ipv4_addr; timeout 36525d }                    10.88.0.5 comment "CID eth0"
/// set masq4-exempt { type ipv4_addr . ipv4_addr; flags interval }  10.88.0.0/16 . 10.88.0.0/16 comment "NETWORK"
/// set masq6 … set masq6-exempt …                                   (the same for IPv6)
/// set masq-attachments { type ifname; timeout 36525d }             "HASH" comment "CID eth0 NETWORK"
/// </code>
/// An exemption is "container network . excluded subnet", so it is shared by every container of the
/// network: per container there are only hash-set elements, its addresses and its index entry.
/// <c>masq-attachments</c> is that index: keyed by a hash of the tag, its userdata also carries a
/// <see cref="MasqueradeRecord"/> (addresses, excluded subnets), so Remove needs one lookup.
/// <para>Why not "container address . subnet" per container: deleting an element of a concatenated
/// interval (pipapo) set costs time in proportion to the set's size (measured on 6.18: 0.1 ms at 10
/// elements, 35–45 ms at 1,000 through our netlink, 3.5 ms through nft), so Remove would not stay flat.
/// Add, Remove and Check here are a few exact-key lookups plus one small transaction whatever the
/// number of containers; GC reads the index once and prunes exemptions no address needs any more.</para>
/// <para>The sets with per-container elements (masq4, masq6, masq-attachments) have timeouts, a century by
/// default (<see cref="SharpCniTable.ElementLifetime"/>): Remove makes the attachment's elements expire rather
/// than deleting them, which spares the DEL process the kernel's ~10 ms release of deleted elements when it
/// closes its socket (<see cref="ElementRemoval"/>). A table made before (sets without timeouts) is kept: Add
/// adds over its sets as they are (<see cref="SharpCniTable.AsFound"/>), Remove deletes. Add's replacements and
/// take-overs delete.</para>
/// <para>Limit: containers on the same subnet share its exemptions, so two networks with the same subnet
/// and different excluded subnets exempt the union (if those overlap, the later ADD replaces the clash).</para>
/// </summary>
public sealed class MasqueradeRules
{
    public const string BaseChain = "postrouting";
    public const string Set4 = "masq4";
    public const string Set6 = "masq6";
    public const string Exempt4 = "masq4-exempt";
    public const string Exempt6 = "masq6-exempt";
    private const string ExemptComment = "masquerade: container network . subnet reached unmasqueraded";
    public const string AttachmentSet = "masq-attachments";
    private const string RuleComment = "sharpcni masquerade";

    private static readonly IPPrefix MulticastV4 = IPPrefix.Parse("224.0.0.0/4");
    private static readonly IPPrefix MulticastV6 = IPPrefix.Parse("ff00::/8");

    private readonly NftConnection _nft;

    public MasqueradeRules(NftConnection nft) => _nft = nft;

    // ---- data: pure functions, tested without root -------------------------------------------

    /// <summary>The table, the five sets and the base chain with its two rules.</summary>
    public static NftTransaction Skeleton(NftTransaction tx) => Chain(Sets(tx));

    /// <summary>
    /// The table and the five sets (idempotent to add; costs the same at any size). <paramref name="existingSets"/>,
    /// the table's sets as read back, keeps sets of an older layout as they are.
    /// </summary>
    public static NftTransaction Sets(NftTransaction tx, IReadOnlyCollection<NftSet>? existingSets = null)
    {
        SharpCniTable.AddTable(tx);
        tx.AddSet(SharpCniTable.AsFound(SharpCniTable.Expiring(Set(Set4, NftDataType.Ipv4Address, "masquerade: container addresses")), existingSets));
        tx.AddSet(SharpCniTable.AsFound(SharpCniTable.Expiring(Set(Set6, NftDataType.Ipv6Address, "masquerade: container addresses")), existingSets));
        tx.AddSet(Set(Exempt4, NftDataType.Concat(NftDataType.Ipv4Address, NftDataType.Ipv4Address), ExemptComment) with { Flags = NftSetFlags.Interval });
        tx.AddSet(Set(Exempt6, NftDataType.Concat(NftDataType.Ipv6Address, NftDataType.Ipv6Address), ExemptComment) with { Flags = NftSetFlags.Interval });
        return tx.AddSet(SharpCniTable.AsFound(SharpCniTable.Expiring(Set(AttachmentSet, NftDataType.InterfaceName, "masquerade: index of attachments (tag hash)")), existingSets));
    }

    /// <summary>
    /// The base chain, flushed and given its two rules. Add includes it only when the rules are not
    /// already in place: re-adding rules re-binds them to the sets, which is cheap but not free.
    /// </summary>
    public static NftTransaction Chain(NftTransaction tx)
    {
        var chain = new NftChain(SharpCniTable.Family, SharpCniTable.Name, BaseChain) { Base = NftBaseChain.SourceNat(NftHook.Postrouting) };
        return SharpCniTable.ReplaceChain(tx, chain, BaseRules());
    }

    private static NftSet Set(string name, NftDataType key, string comment) =>
        new(SharpCniTable.Family, SharpCniTable.Name, name, key) { Comment = comment };

    /// <summary>The two rules of the postrouting chain.</summary>
    public static IReadOnlyList<NftRule> BaseRules() => [BaseRule(false), BaseRule(true)];

    private static NftRule BaseRule(bool ipv6)
    {
        IPPrefix multicast = ipv6 ? MulticastV6 : MulticastV4;
        return new NftRuleBuilder()
            .SourceInSet(ipv6, ipv6 ? Set6 : Set4)
            .SourceAndDestinationInSet(ipv6, ipv6 ? Exempt6 : Exempt4, invert: true)
            .MatchDestination(multicast.Address, multicast.PrefixLength, negate: true)
            .Masquerade()
            .Build(SharpCniTable.Name, BaseChain, RuleComment);
    }

    /// <summary>Longest comment nft prints (NFTNL_UDATA_COMMENT_MAXLEN less its NUL).</summary>
    public const int MaxCommentLength = SharpCniTable.MaxCommentLength;

    /// <summary>The attachment's key in <see cref="AttachmentSet"/>: 15 hex digits of <see cref="Attachment.Hash"/> (an ifname-typed string).</summary>
    public static byte[] IndexKey(Attachment attachment) => NftData.InterfaceName(attachment.HashHex[..15]);

    /// <summary>The attachment's element of <see cref="AttachmentSet"/>: comment "CID IFNAME NETWORK" and the record.</summary>
    public static NftSetElement IndexElement(Attachment attachment, string network, MasqueradeRecord record)
    {
        string comment = attachment.Tag + " " + network;
        if (System.Text.Encoding.UTF8.GetByteCount(comment) > MaxCommentLength)
        {
            throw CniException.InvalidConfig($"container ID, interface and network name too long for a firewall comment ({comment.Length} > {MaxCommentLength})");
        }
        byte[] userData = [.. NftUserData.Comment(comment, NftUserData.NFTNL_UDATA_SET_ELEM_COMMENT), .. NftUserData.Tlv(MasqueradeRecord.UserDataType, Record(record))];
        if (userData.Length > NftUserData.NFT_USERDATA_MAXLEN)
        {
            throw CniException.InvalidConfig($"too many addresses or excluded subnets to masquerade for one attachment ({record.Addresses.Count} addresses, {record.Excluded.Count} subnets)");
        }
        return new NftSetElement(IndexKey(attachment)) { UserData = userData };
    }

    private static byte[] Record(MasqueradeRecord record)
    {
        byte[] bytes = record.Encode();
        return bytes.Length <= 255 ? bytes
            : throw CniException.InvalidConfig($"too many addresses or excluded subnets to masquerade for one attachment ({record.Addresses.Count} addresses, {record.Excluded.Count} subnets)");
    }

    /// <summary>The element of <see cref="Set4"/>/<see cref="Set6"/> for one address.</summary>
    public static NftSetElement AddressElement(IPAddress address, string? tag = null) =>
        new(NftData.Address(address)) { Comment = tag };

    /// <summary>The element of <see cref="Exempt4"/>/<see cref="Exempt6"/>: first of source . first of destination … last . last.</summary>
    public static NftSetElement ExemptionElement(IPPrefix source, IPPrefix destination, string? comment = null) =>
        NftSetElement.Range(
            NftData.Concat(NftData.Network(source.Address, source.PrefixLength), NftData.Network(destination.Address, destination.PrefixLength)),
            NftData.Concat(NftData.LastAddress(source.Address, source.PrefixLength), NftData.LastAddress(destination.Address, destination.PrefixLength)),
            comment);

    internal static string AddressSet(IPAddress a) => IsV4(a) ? Set4 : Set6;

    internal static string ExemptSet(bool v4) => v4 ? Exempt4 : Exempt6;

    /// <summary>
    /// The whole Add of a new attachment as one transaction: skeleton, the exemptions of its networks
    /// (no-ops when already there), one element per address and the index element.
    /// <paramref name="excluded"/> defaults to the networks of the container's own addresses (the
    /// reference plugin's behaviour).
    /// </summary>
    public static NftTransaction PlanAdd(string network, Attachment attachment, IReadOnlyList<IPPrefix> addresses, IReadOnlyList<IPPrefix>? excluded = null) =>
        Skeleton(new NftTransaction()).Append(PlanElements(network, attachment, RecordFor(addresses, excluded)));

    private static MasqueradeRecord RecordFor(IReadOnlyList<IPPrefix> addresses, IReadOnlyList<IPPrefix>? excluded)
    {
        if (addresses.Count == 0)
        {
            throw new ArgumentException("masquerade needs at least one container address", nameof(addresses));
        }
        return MasqueradeRecord.Create(addresses, excluded ?? addresses.Select(a => a.Network).ToArray());
    }

    private static NftTransaction PlanElements(string network, Attachment attachment, MasqueradeRecord record)
    {
        var tx = new NftTransaction();
        string tag = attachment.Tag;
        NftSetElement index = IndexElement(attachment, network, record);
        foreach ((IPPrefix source, IPPrefix destination) in record.Exemptions)
        {
            tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, ExemptSet(source.IsV4), [ExemptionElement(source, destination, network)]);
        }
        foreach (IPPrefix address in record.Addresses)
        {
            tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, AddressSet(address.Address), [AddressElement(address.Address, tag)]);
        }
        return tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, AttachmentSet, [index]);
    }

    // ---- effects ------------------------------------------------------------------------------

    /// <summary>
    /// Adds (or replaces) the masquerade of one attachment, atomically. An address still held by
    /// another attachment (a container that vanished without DEL) is taken over: its element moves
    /// to this attachment in the same transaction and the other's index entry forgets it.
    /// </summary>
    public void Add(string network, string containerId, string ifName, IReadOnlyList<IPPrefix> addresses, IReadOnlyList<IPPrefix>? excluded = null)
    {
        Names.ValidateNetworkName(network);
        Attachment attachment = Attachment.Create(containerId, ifName);
        MasqueradeRecord record = RecordFor(addresses, excluded);
        NftTransaction elements = PlanElements(network, attachment, record); // refuses what cannot be stored before any lookup
        for (int attempt = 0; ; attempt++)
        {
            // With the two rules in place their sets exist: the first attempt adds no set. Sets and chain are added
            // when the rules are not in place, and on the second attempt over the sets as they are (a set missing,
            // or sets of the layout before timeouts, which refuse ours with EEXIST).
            var batch = new ElementBatch(new NftTransaction());
            bool rulesInPlace = BaseRulesInPlace();
            if (attempt > 0 || !rulesInPlace)
            {
                Sets(batch.Transaction, attempt > 0 ? SharpCniTable.ListSets(_nft) : null);
            }
            if (!rulesInPlace)
            {
                Chain(batch.Transaction);
            }
            if (Lookup(attachment, refuseCollision: true) is (NftSetElement, MasqueradeRecord old))
            {
                DeleteAttachment(batch, attachment, old); // replaced as a whole below
            }
            foreach (IPAddress address in record.Addresses.Select(a => a.Address))
            {
                if (!batch.IsDeleted(AddressSet(address), AddressElement(address))
                    && _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, AddressSet(address), NftData.Address(address)) is { } held)
                {
                    TakeOver(batch, address, held);
                }
            }
            if (attempt > 0)
            {
                DeleteClashingExemptions(batch, record);
            }
            batch.Finish();
            batch.Transaction.Append(elements);
            try
            {
                _nft.Commit(batch.Transaction);
                return;
            }
            catch (LinuxException e) when (attempt == 0 && e.Errno is Errno.ENOENT or Errno.EEXIST or Errno.ENOTEMPTY)
            {
                // Raced with another ADD/DEL, or elements changed behind our back: plan again from
                // fresh state, this time also clearing exemption ranges that overlap ours.
            }
        }
    }

    /// <summary>
    /// Removes everything made for the attachment: its elements expire (see <see cref="ElementRemoval"/>), or are
    /// deleted where that does not work. Idempotent: nothing there is success. Once it returns (on the plugin call's
    /// connection, once the call ends: see <see cref="ElementRemoval"/>), GET, dumps and packets no longer find the elements.
    /// </summary>
    public void Remove(string containerId, string ifName) => Remove(new Attachment(containerId, ifName), expire: true);

    /// <summary><see cref="Remove(string, string)"/>, deleting from the start when not <paramref name="expire"/>.</summary>
    private void Remove(Attachment attachment, bool expire)
    {
        for (int attempt = 0; ; attempt++)
        {
            if (Lookup(attachment) is not (NftSetElement index, MasqueradeRecord record))
            {
                return;
            }
            var removal = new ElementRemoval();
            foreach ((string set, NftSetElement element) in OwnedAddressElements(attachment, record))
            {
                removal.Add(set, element);
            }
            removal.Add(AttachmentSet, index);
            try
            {
                if (removal.Commit(_nft, expire))
                {
                    return;
                }
                expire = false; // expired but still there: delete what is left
            }
            catch (Exception e) when (attempt < 2 && (NftConnection.IsNotFound(e) || e is LinuxException { Errno: Errno.EEXIST }))
            {
                // Raced with another ADD/DEL/GC: plan again from fresh state.
            }
        }
    }

    /// <summary>
    /// The attachment's index element and record, or null. An entry of another attachment under the same
    /// key (a 60-bit hash collision) is null too, unless <paramref name="refuseCollision"/>: Add refuses it.
    /// </summary>
    private (NftSetElement Element, MasqueradeRecord Record)? Lookup(Attachment attachment, bool refuseCollision = false)
    {
        NftSetElement? element = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, AttachmentSet, IndexKey(attachment));
        if (element is null)
        {
            return null;
        }
        if (!Attachment.TryParseTag(element.Comment, out Attachment owner) || owner != attachment)
        {
            if (!refuseCollision)
            {
                return null;
            }
            throw new CniException(ErrorCode.Internal, $"masquerade index key of {attachment.Tag} is held by \"{element.Comment}\" (hash collision)");
        }
        return (element, Decode(element));
    }

    private static MasqueradeRecord Decode(NftSetElement element) =>
        element.UserData is { } data && NftUserData.Find(data, MasqueradeRecord.UserDataType) is { } bytes && MasqueradeRecord.TryDecode(bytes, out MasqueradeRecord record)
            ? record : new MasqueradeRecord([], []);

    /// <summary>
    /// Deletes the attachment's index element and the address elements its record names that are
    /// still tagged for it (one lookup each). Exemptions are shared by the network and stay (GC prunes them).
    /// </summary>
    private void DeleteAttachment(ElementBatch batch, Attachment attachment, MasqueradeRecord record)
    {
        foreach ((string set, NftSetElement element) in OwnedAddressElements(attachment, record))
        {
            batch.Delete(set, new NftSetElement(element.Key));
        }
        batch.Delete(AttachmentSet, new NftSetElement(IndexKey(attachment)));
    }

    /// <summary>The address elements of <paramref name="record"/> the attachment still holds (its tag as comment), as the kernel holds them.</summary>
    private List<(string Set, NftSetElement Element)> OwnedAddressElements(Attachment attachment, MasqueradeRecord record)
    {
        var owned = new List<(string, NftSetElement)>();
        foreach (IPPrefix prefix in record.Addresses)
        {
            string set = AddressSet(prefix.Address);
            if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, set, NftData.Address(prefix.Address)) is { } element && element.Comment == attachment.Tag)
            {
                owned.Add((set, element));
            }
        }
        return owned;
    }

    /// <summary>
    /// <paramref name="address"/> is in the address map for another attachment: delete its element,
    /// and rewrite that attachment's index entry without it (at <see cref="ElementBatch.Finish"/>).
    /// </summary>
    private void TakeOver(ElementBatch batch, IPAddress address, NftSetElement held)
    {
        batch.Delete(AddressSet(address), AddressElement(address));
        if (Attachment.TryParseTag(held.Comment, out Attachment owner))
        {
            batch.Rewrite(owner, () =>
                _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, AttachmentSet, IndexKey(owner)) is { } index
                && Attachment.TryParseTag(index.Comment, out Attachment indexed) && indexed == owner
                    ? (index, Decode(index)) : null);
            batch.Forget(owner, address);
        }
    }

    /// <summary>
    /// Deletes exemption elements that overlap ours without being identical (left by hand, or another
    /// network on the same subnet excluding overlapping subnets): the kernel refuses overlapping ranges.
    /// Reads the exempt sets, which hold a few elements per network: repair path only.
    /// </summary>
    private void DeleteClashingExemptions(ElementBatch batch, MasqueradeRecord record)
    {
        NftSetElement[] ours = record.Exemptions.Select(e => ExemptionElement(e.Source, e.Destination)).ToArray();
        foreach (bool v4 in new[] { true, false })
        {
            NftSetElement[] mine = ours.Where(e => e.Key.Length == (v4 ? 8 : 32)).ToArray();
            if (mine.Length == 0)
            {
                continue;
            }
            foreach (NftSetElement element in ListElementsOrEmpty(ExemptSet(v4)))
            {
                if (mine.Any(m => Overlap(m, element)) && !mine.Any(m => ElementId(m) == ElementId(element)))
                {
                    batch.Delete(ExemptSet(v4), element);
                }
            }
        }
    }

    /// <summary>True when two "a . b" range elements overlap in both fields.</summary>
    private static bool Overlap(NftSetElement x, NftSetElement y)
    {
        if (x.KeyEnd is null || y.KeyEnd is null || x.Key.Length != y.Key.Length)
        {
            return false;
        }
        int half = x.Key.Length / 2;
        for (int field = 0; field < 2; field++)
        {
            var range = new Range(field * half, (field + 1) * half);
            if (x.Key.AsSpan(range).SequenceCompareTo(y.KeyEnd.AsSpan(range)) > 0 || y.Key.AsSpan(range).SequenceCompareTo(x.KeyEnd.AsSpan(range)) > 0)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>True when the postrouting chain holds exactly our two rules.</summary>
    private bool BaseRulesInPlace()
    {
        try
        {
            IReadOnlyList<NftRule> rules = _nft.ListRules(SharpCniTable.Family, SharpCniTable.Name, BaseChain);
            IReadOnlyList<NftRule> expected = BaseRules();
            return rules.Count == expected.Count && rules.Zip(expected).All(p => p.First.Expressions.SequenceEqual(p.Second.Expressions));
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return false;
        }
    }

    private IReadOnlyList<NftSetElement> ListElementsOrEmpty(string set)
    {
        try
        {
            return _nft.ListElements(SharpCniTable.Family, SharpCniTable.Name, set);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return [];
        }
    }

    /// <summary>What is missing or wrong for the attachment (empty when all is in place).</summary>
    public IReadOnlyList<string> Check(string containerId, string ifName, IReadOnlyList<IPPrefix> addresses)
    {
        var attachment = new Attachment(containerId, ifName);
        if (!_nft.TableExists(SharpCniTable.Family, SharpCniTable.Name))
        {
            return [$"nftables table inet {SharpCniTable.Name} is missing"];
        }
        var problems = new List<string>();
        try
        {
            IReadOnlyList<NftRule> rules = _nft.ListRules(SharpCniTable.Family, SharpCniTable.Name, BaseChain);
            foreach (NftRule expected in BaseRules())
            {
                if (!rules.Any(r => r.Expressions.SequenceEqual(expected.Expressions)))
                {
                    problems.Add($"a masquerade rule of chain {BaseChain} is missing or changed");
                }
            }
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            problems.Add($"chain {BaseChain} is missing");
        }
        MasqueradeRecord? record = Lookup(attachment)?.Record;
        if (record is null)
        {
            problems.Add($"{attachment.Tag} is not in set {AttachmentSet}");
        }
        foreach (IPPrefix address in addresses)
        {
            string set = AddressSet(address.Address);
            NftSetElement? element = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, set, NftData.Address(address.Address));
            if (element is null)
            {
                problems.Add($"{address.Address} is not in set {set}");
            }
            else if (element.Comment != attachment.Tag)
            {
                problems.Add($"{address.Address} in set {set} is tagged \"{element.Comment}\" instead of \"{attachment.Tag}\"");
            }
            if (record is not null && !record.Addresses.Any(a => a.Address.Equals(address.Address)))
            {
                problems.Add($"{address.Address} is not recorded for {attachment.Tag}");
            }
        }
        foreach ((IPPrefix source, IPPrefix destination) in record?.Exemptions ?? [])
        {
            NftSetElement exemption = ExemptionElement(source, destination);
            if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, ExemptSet(source.IsV4), exemption.Key, exemption.KeyEnd) is null)
            {
                problems.Add($"exemption {source} . {destination} is not in set {ExemptSet(source.IsV4)}");
            }
        }
        return problems;
    }

    /// <summary>
    /// Removes the masquerade state of every attachment of <paramref name="network"/> that is not in
    /// <paramref name="valid"/> (CNI GC), then prunes exemptions whose network has no masqueraded address left.
    /// Attachments of other networks are left alone. Returns the attachments removed.
    /// </summary>
    public IReadOnlyList<Attachment> Gc(string network, IEnumerable<Attachment> valid)
    {
        var keep = valid.ToHashSet();
        var removed = new List<Attachment>();
        foreach (NftSetElement element in ListElementsOrEmpty(AttachmentSet))
        {
            if (NetworkOf(element.Comment) != network || !Attachment.TryParseTag(element.Comment, out Attachment attachment) || keep.Contains(attachment))
            {
                continue;
            }
            Remove(attachment, expire: false); // one release at exit for the whole GC rather than up to a jiffy per attachment
            removed.Add(attachment);
        }
        PruneExemptions();
        return removed;
    }

    /// <summary>
    /// Deletes exemption elements whose source network holds no masqueraded address. An ADD that commits
    /// a new user of such an exemption between our read and our delete is repaired right after: the
    /// addresses are read again and what they still need is put back.
    /// </summary>
    private void PruneExemptions()
    {
        foreach (bool v4 in new[] { true, false })
        {
            string set = ExemptSet(v4);
            NftSetElement[] unused = ListElementsOrEmpty(set).Where(e => !Serves(e, Masqueraded(v4))).ToArray();
            if (unused.Length == 0)
            {
                continue;
            }
            try
            {
                _nft.Commit(new NftTransaction().DeleteElements(SharpCniTable.Family, SharpCniTable.Name, set, unused));
            }
            catch (Exception e) when (NftConnection.IsNotFound(e))
            {
                continue; // raced with another GC; the next GC finishes the job
            }
            IReadOnlyList<byte[]> now = Masqueraded(v4);
            NftSetElement[] needed = unused.Where(e => Serves(e, now)).ToArray();
            if (needed.Length > 0)
            {
                _nft.Commit(new NftTransaction().AddElements(SharpCniTable.Family, SharpCniTable.Name, set, needed));
            }
        }
    }

    private IReadOnlyList<byte[]> Masqueraded(bool v4) => ListElementsOrEmpty(v4 ? Set4 : Set6).Select(e => e.Key).ToArray();

    /// <summary>True when some address lies in the exemption's source range.</summary>
    private static bool Serves(NftSetElement exemption, IReadOnlyList<byte[]> addresses)
    {
        if (exemption.KeyEnd is null)
        {
            return false;
        }
        int half = exemption.Key.Length / 2;
        byte[] first = exemption.Key[..half], last = exemption.KeyEnd[..half];
        return addresses.Any(a => a.Length == half && first.AsSpan().SequenceCompareTo(a) <= 0 && last.AsSpan().SequenceCompareTo(a) >= 0);
    }

    private static string ElementId(NftSetElement element) =>
        Convert.ToHexString(element.Key) + "-" + (element.KeyEnd is null ? "" : Convert.ToHexString(element.KeyEnd));

    private static bool IsV4(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;

    /// <summary>The network name in an index comment "CID IFNAME NETWORK".</summary>
    private static string NetworkOf(string? comment) => comment?.Split(' ') is [_, _, string network, ..] ? network : "";

    /// <summary>
    /// A transaction that deletes each element at most once (a second delete of one key would fail the
    /// batch), and collects index elements to rewrite for attachments that lose addresses.
    /// </summary>
    private sealed class ElementBatch(NftTransaction transaction)
    {
        private readonly HashSet<string> _deleted = [];
        private readonly Dictionary<Attachment, (NftSetElement Index, MasqueradeRecord Record)?> _rewrites = [];

        public NftTransaction Transaction { get; } = transaction;

        public bool IsDeleted(string set, NftSetElement element) => _deleted.Contains(Id(set, element));

        public void Delete(string set, NftSetElement element)
        {
            if (_deleted.Add(Id(set, element)))
            {
                Transaction.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, set, [element]);
            }
        }

        /// <summary>Reads the index entry of <paramref name="owner"/> once (through <paramref name="read"/>) to rewrite it at <see cref="Finish"/>.</summary>
        public MasqueradeRecord? Rewrite(Attachment owner, Func<(NftSetElement, MasqueradeRecord)?> read)
        {
            if (!_rewrites.TryGetValue(owner, out var entry))
            {
                entry = read();
                _rewrites[owner] = entry;
            }
            return entry?.Record;
        }

        public void Forget(Attachment owner, IPAddress address)
        {
            if (_rewrites.TryGetValue(owner, out var entry) && entry is (NftSetElement index, MasqueradeRecord record))
            {
                _rewrites[owner] = (index, record.Without(address));
            }
        }

        /// <summary>Replaces the index element of every attachment that lost addresses (deletes it when none are left).</summary>
        public void Finish()
        {
            foreach ((Attachment owner, var entry) in _rewrites)
            {
                if (entry is not (NftSetElement index, MasqueradeRecord record) || record.Equals(Decode(index)))
                {
                    continue;
                }
                Delete(AttachmentSet, index);
                if (record.Addresses.Count > 0)
                {
                    Transaction.AddElements(SharpCniTable.Family, SharpCniTable.Name, AttachmentSet, [IndexElement(owner, NetworkOf(index.Comment), record)]);
                }
            }
        }

        private static string Id(string set, NftSetElement element) => set + " " + ElementId(element);
    }
}
