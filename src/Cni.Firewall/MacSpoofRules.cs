using System.Text;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// The bridge plugin's <c>macspoofchk</c>: frames that enter the bridge from a container's host veth with
/// a source MAC other than the container interface's are dropped (what the reference plugin does with
/// two chains per container in <c>table bridge nat</c>).
/// <para>Layout in <c>bridge sharpcni</c>: one constant rule and plain sets; no per-container chain or rule.</para>
/// <code>
/// chain prerouting { type filter hook prerouting priority -300; policy accept;
///     iifname @macspoof-ports iifname . ether saddr != @macspoof-allowed drop }
/// set macspoof-ports { type ifname }                          "veth0123abcdef" comment "CID eth0"
/// set macspoof-allowed { type ifname . ether_addr }           "veth0123abcdef" . 02:42:0a:58:00:05 comment "CID eth0"
/// set macspoof-attachments { type ifname }                    "HASH" comment "CID eth0 NETWORK"
/// </code>
/// <c>macspoof-attachments</c> is the index: keyed by 15 hex digits of <see cref="Attachment.Hash"/>, its
/// userdata also holds the host interface and MAC (<see cref="UserDataType"/>), so Remove needs neither the
/// container's namespace nor a scan. Add, Remove and Check are a few exact-key lookups and one small
/// transaction (hash sets), the same at 10 containers as at 1,000. Priority -300 is the reference's: before
/// bridge DNAT and the bridge's own filter chains.
/// </summary>
public sealed class MacSpoofRules
{
    public const NftFamily Family = NftFamily.Bridge;
    public const string Table = SharpCniTable.Name;
    public const string BaseChain = "prerouting";
    public const string PortSet = "macspoof-ports";
    public const string AllowedSet = "macspoof-allowed";
    public const string AttachmentSet = "macspoof-attachments";
    private const string RuleComment = "sharpcni macspoofchk";

    /// <summary>The userdata TLV type of the index element's record (host interface and MAC); nft ignores it.</summary>
    public const byte UserDataType = 0xc6;

    private const byte RecordVersion = 1;

    private readonly NftConnection _nft;

    public MacSpoofRules(NftConnection nft) => _nft = nft;

    /// <summary>What is guarded for one attachment: the bridge port (host veth) and the only source MAC it may send.</summary>
    public readonly record struct Guard(string HostInterface, byte[] Mac)
    {
        public bool Equals(Guard other) => HostInterface == other.HostInterface && Mac.AsSpan().SequenceEqual(other.Mac);

        public override int GetHashCode() => HashCode.Combine(HostInterface, Mac.Length == 6 ? BitConverter.ToInt32(Mac) : 0);

        public override string ToString() => HostInterface + " " + string.Join(':', Mac.Select(b => b.ToString("x2")));
    }

    // ---- data: pure functions, tested without root -------------------------------------------

    /// <summary>The table and the three sets (idempotent to add).</summary>
    public static NftTransaction Sets(NftTransaction tx)
    {
        tx.AddTable(new NftTable(Family, Table));
        tx.AddSet(Set(PortSet, NftDataType.InterfaceName, "macspoofchk: guarded bridge ports"));
        tx.AddSet(Set(AllowedSet, NftDataType.Concat(NftDataType.InterfaceName, NftDataType.EtherAddress), "macspoofchk: the source MAC each port may send"));
        return tx.AddSet(Set(AttachmentSet, NftDataType.InterfaceName, "macspoofchk: index of attachments (tag hash)"));
    }

    /// <summary>The base chain, flushed and given its one rule.</summary>
    public static NftTransaction Chain(NftTransaction tx)
    {
        var chain = new NftChain(Family, Table, BaseChain) { Base = NftBaseChain.Filter(NftHook.Prerouting, NftBaseChain.NF_BR_PRI_NAT_DST_BRIDGED) };
        tx.AddChain(chain).FlushChain(Family, Table, BaseChain);
        return tx.AddRule(BaseRule());
    }

    /// <summary>The table, the sets and the chain with its rule.</summary>
    public static NftTransaction Skeleton(NftTransaction tx) => Chain(Sets(tx));

    /// <summary><c>iifname @macspoof-ports iifname . ether saddr != @macspoof-allowed drop</c>.</summary>
    public static NftRule BaseRule() =>
        new NftRuleBuilder(Family)
            .InterfaceInSet(input: true, PortSet)
            .InputInterfaceAndEtherSourceInSet(AllowedSet, invert: true)
            .Drop()
            .Build(Table, BaseChain, RuleComment);

    private static NftSet Set(string name, NftDataType key, string comment) => new(Family, Table, name, key) { Comment = comment };

    /// <summary>The attachment's key in <see cref="AttachmentSet"/>: 15 hex digits of its hash (an ifname-typed string).</summary>
    public static byte[] IndexKey(Attachment attachment) => NftData.InterfaceName(attachment.HashHex[..15]);

    public static byte[] PortKey(string hostInterface) => NftData.InterfaceName(hostInterface);

    public static byte[] AllowedKey(Guard guard) => NftData.Concat(NftData.InterfaceName(guard.HostInterface), NftData.EtherAddress(guard.Mac));

    /// <summary>The index element: comment "CID IFNAME NETWORK" and the record (version, MAC, host interface name).</summary>
    public static NftSetElement IndexElement(Attachment attachment, string network, Guard guard)
    {
        string comment = attachment.Tag + " " + network;
        if (Encoding.UTF8.GetByteCount(comment) > MasqueradeRules.MaxCommentLength)
        {
            throw CniException.InvalidConfig($"container ID, interface and network name too long for a firewall comment ({comment.Length} > {MasqueradeRules.MaxCommentLength})");
        }
        byte[] record = [RecordVersion, .. guard.Mac, .. Encoding.UTF8.GetBytes(guard.HostInterface)];
        return new NftSetElement(IndexKey(attachment))
        {
            UserData = [.. NftUserData.Comment(comment, NftUserData.NFTNL_UDATA_SET_ELEM_COMMENT), .. NftUserData.Tlv(UserDataType, record)],
        };
    }

    /// <summary>The guard recorded in an index element, or null when its record is missing or unreadable.</summary>
    public static Guard? Decode(NftSetElement index)
    {
        if (index.UserData is not { } data || NftUserData.Find(data, UserDataType) is not { Length: > 7 } record || record[0] != RecordVersion)
        {
            return null;
        }
        return new Guard(Encoding.UTF8.GetString(record.AsSpan(7)), record[1..7]);
    }

    /// <summary>The elements of one attachment, added in one transaction after <see cref="Sets"/>.</summary>
    public static NftTransaction PlanElements(NftTransaction tx, Attachment attachment, string network, Guard guard)
    {
        NftSetElement index = IndexElement(attachment, network, guard);
        tx.AddElements(Family, Table, PortSet, [new NftSetElement(PortKey(guard.HostInterface)) { Comment = attachment.Tag }]);
        tx.AddElements(Family, Table, AllowedSet, [new NftSetElement(AllowedKey(guard)) { Comment = attachment.Tag }]);
        return tx.AddElements(Family, Table, AttachmentSet, [index]);
    }

    private static Guard Validated(string hostInterface, ReadOnlySpan<byte> mac)
    {
        Names.ValidateInterfaceName(hostInterface);
        if (mac.Length != NftData.ETH_ALEN)
        {
            throw CniException.InvalidConfig($"macspoofchk needs a 6-byte MAC, not {mac.Length} bytes");
        }
        return new Guard(hostInterface, mac.ToArray());
    }

    // ---- effects ------------------------------------------------------------------------------

    /// <summary>
    /// Lets frames from bridge port <paramref name="hostInterface"/> through only with source
    /// <paramref name="mac"/>, atomically. Adding again replaces the attachment's guard; a port still guarded
    /// for another attachment (one that vanished without DEL) is taken over.
    /// </summary>
    public void Add(string network, Attachment attachment, string hostInterface, ReadOnlySpan<byte> mac)
    {
        Names.ValidateNetworkName(network);
        attachment = Attachment.Create(attachment.ContainerId, attachment.IfName);
        Guard guard = Validated(hostInterface, mac);
        NftTransaction elements = PlanElements(new NftTransaction(), attachment, network, guard); // refuses what cannot be stored before any lookup
        for (int attempt = 0; ; attempt++)
        {
            var batch = new ElementBatch(Sets(new NftTransaction()));
            if (!BaseRuleInPlace())
            {
                Chain(batch.Transaction);
            }
            if (Lookup(attachment) is (NftSetElement index, Guard old))
            {
                DeleteAttachment(batch, attachment, index, old);
            }
            if (!batch.IsDeleted(PortSet, PortKey(hostInterface))
                && _nft.GetElement(Family, Table, PortSet, PortKey(hostInterface)) is { } held
                && held.Comment != attachment.Tag)
            {
                // The port is guarded for another attachment: drop that attachment's guard as a whole.
                if (Attachment.TryParseTag(held.Comment, out Attachment owner) && Lookup(owner) is (NftSetElement ownerIndex, Guard ownerGuard))
                {
                    DeleteAttachment(batch, owner, ownerIndex, ownerGuard);
                }
                batch.Delete(PortSet, PortKey(hostInterface));
            }
            batch.Transaction.Append(elements);
            try
            {
                _nft.Commit(batch.Transaction);
                return;
            }
            catch (LinuxException e) when (attempt == 0 && e.Errno is Errno.ENOENT or Errno.EEXIST)
            {
                // Raced with another ADD/DEL on the same attachment or port: plan again from fresh state.
            }
        }
    }

    /// <summary>Removes the attachment's guard. Idempotent: nothing there (or no table) is success.</summary>
    public void Remove(Attachment attachment)
    {
        for (int attempt = 0; ; attempt++)
        {
            if (Lookup(attachment) is not (NftSetElement index, Guard guard))
            {
                return;
            }
            var batch = new ElementBatch(new NftTransaction());
            DeleteAttachment(batch, attachment, index, guard);
            try
            {
                _nft.Commit(batch.Transaction);
                return;
            }
            catch (Exception e) when (attempt == 0 && NftConnection.IsNotFound(e))
            {
                // Raced with another DEL/GC: plan again from fresh state.
            }
        }
    }

    /// <summary>What is missing or wrong for the attachment (empty when all is in place).</summary>
    public IReadOnlyList<string> Check(Attachment attachment, string hostInterface, ReadOnlySpan<byte> mac)
    {
        Guard expected = Validated(hostInterface, mac);
        if (!_nft.TableExists(Family, Table))
        {
            return [$"nftables table bridge {Table} is missing"];
        }
        var problems = new List<string>();
        if (!BaseRuleInPlace())
        {
            problems.Add($"the macspoofchk rule of chain bridge {Table} {BaseChain} is missing or changed");
        }
        if (Lookup(attachment) is not (NftSetElement, Guard recorded))
        {
            problems.Add($"{attachment.Tag} is not in set {AttachmentSet}");
        }
        else if (!recorded.Equals(expected))
        {
            problems.Add($"{attachment.Tag} is recorded as {recorded} instead of {expected}");
        }
        CheckElement(problems, PortSet, PortKey(hostInterface), hostInterface, attachment);
        CheckElement(problems, AllowedSet, AllowedKey(expected), expected.ToString(), attachment);
        return problems;
    }

    private void CheckElement(List<string> problems, string set, byte[] key, string what, Attachment attachment)
    {
        NftSetElement? element = _nft.GetElement(Family, Table, set, key);
        if (element is null)
        {
            problems.Add($"{what} is not in set {set}");
        }
        else if (element.Comment != attachment.Tag)
        {
            problems.Add($"{what} in set {set} is tagged \"{element.Comment}\" instead of \"{attachment.Tag}\"");
        }
    }

    /// <summary>
    /// Removes the guard of every attachment of <paramref name="network"/> not in <paramref name="valid"/>
    /// (CNI GC). Attachments of other networks are left alone. Returns the attachments removed.
    /// </summary>
    public IReadOnlyList<Attachment> Gc(string network, IEnumerable<Attachment> valid)
    {
        var keep = valid.ToHashSet();
        var removed = new List<Attachment>();
        IReadOnlyList<NftSetElement> indexed;
        try
        {
            indexed = _nft.ListElements(Family, Table, AttachmentSet);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return removed;
        }
        foreach (NftSetElement element in indexed)
        {
            if (NetworkOf(element.Comment) != network || !Attachment.TryParseTag(element.Comment, out Attachment attachment) || keep.Contains(attachment))
            {
                continue;
            }
            Remove(attachment);
            removed.Add(attachment);
        }
        return removed;
    }

    /// <summary>Deletes the whole bridge table (tests and uninstall).</summary>
    public static void DeleteTable(NftConnection nft)
    {
        try
        {
            nft.Commit(new NftTransaction().DeleteTable(Family, Table));
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
        }
    }

    /// <summary>The attachment's index element and guard, or null (also for another attachment's entry under the same 60-bit key).</summary>
    private (NftSetElement Index, Guard Guard)? Lookup(Attachment attachment)
    {
        NftSetElement? element = _nft.GetElement(Family, Table, AttachmentSet, IndexKey(attachment));
        if (element is null || !Attachment.TryParseTag(element.Comment, out Attachment owner) || owner != attachment)
        {
            return null;
        }
        return (element, Decode(element) ?? new Guard("", []));
    }

    /// <summary>Deletes the index element and the port and allowed elements still tagged for the attachment.</summary>
    private void DeleteAttachment(ElementBatch batch, Attachment attachment, NftSetElement index, Guard guard)
    {
        if (guard.HostInterface.Length > 0 && guard.Mac.Length == NftData.ETH_ALEN)
        {
            byte[] port = PortKey(guard.HostInterface);
            if (!batch.IsDeleted(PortSet, port) && _nft.GetElement(Family, Table, PortSet, port)?.Comment == attachment.Tag)
            {
                batch.Delete(PortSet, port);
            }
            byte[] allowed = AllowedKey(guard);
            if (!batch.IsDeleted(AllowedSet, allowed) && _nft.GetElement(Family, Table, AllowedSet, allowed)?.Comment == attachment.Tag)
            {
                batch.Delete(AllowedSet, allowed);
            }
        }
        batch.Delete(AttachmentSet, index.Key);
    }

    /// <summary>True when the prerouting chain holds exactly our rule.</summary>
    private bool BaseRuleInPlace()
    {
        try
        {
            IReadOnlyList<NftRule> rules = _nft.ListRules(Family, Table, BaseChain);
            return rules.Count == 1 && rules[0].Expressions.SequenceEqual(BaseRule().Expressions);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return false;
        }
    }

    /// <summary>The network name in an index comment "CID IFNAME NETWORK".</summary>
    private static string NetworkOf(string? comment) => comment?.Split(' ') is [_, _, string network, ..] ? network : "";

    /// <summary>A transaction that deletes each element at most once (a second delete of one key would fail the batch).</summary>
    private sealed class ElementBatch(NftTransaction transaction)
    {
        private readonly HashSet<string> _deleted = [];

        public NftTransaction Transaction { get; } = transaction;

        public bool IsDeleted(string set, byte[] key) => _deleted.Contains(set + " " + Convert.ToHexString(key));

        public void Delete(string set, byte[] key)
        {
            if (_deleted.Add(set + " " + Convert.ToHexString(key)))
            {
                Transaction.DeleteElements(Family, Table, set, [new NftSetElement(key)]);
            }
        }
    }
}
