using Cni.Linux.Netlink;
using static Cni.Linux.Netfilter.NfTables;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netfilter;

/// <summary>
/// An atomic nf_tables transaction: operations collected here are sent as one
/// NFNL_MSG_BATCH_BEGIN … BATCH_END batch in a single sendmsg by <see cref="NftConnection.Commit"/>;
/// the kernel applies all of them or none.
/// </summary>
public sealed class NftTransaction
{
    /// <summary>Elements per NEWSETELEM/DELSETELEM message: keeps each nest below the 64 KiB attribute limit.</summary>
    private const int ElementsPerMessage = 128;

    private readonly List<Operation> _operations = [];

    private sealed record Operation(ushort Message, ushort Flags, NftFamily Family, object Subject, string Description);

    private sealed record ObjectName(string Table, string? Name, ulong? Handle = null);

    private sealed record ElementList(string Table, string Set, IReadOnlyList<NftSetElement>? Elements, uint? SetId = null);

    public int Count => _operations.Count;

    public bool IsEmpty => _operations.Count == 0;

    /// <summary>One line per operation, in order ("add chain inet sharpcni masquerade").</summary>
    public IReadOnlyList<string> Describe() => _operations.Select(o => o.Description).ToArray();

    public NftTransaction AddTable(NftTable table) =>
        Add(NFT_MSG_NEWTABLE, NLM_F_CREATE, table.Family, table, $"add table {Fam(table.Family)} {table.Name}");

    public NftTransaction DeleteTable(NftFamily family, string table) =>
        Add(NFT_MSG_DELTABLE, 0, family, new ObjectName(table, null), $"delete table {Fam(family)} {table}");

    public NftTransaction AddChain(NftChain chain) =>
        Add(NFT_MSG_NEWCHAIN, NLM_F_CREATE, chain.Family, chain, $"add chain {Fam(chain.Family)} {chain.Table} {chain.Name}");

    /// <summary>Deletes a chain and the rules in it (it must not be referenced by jumps or map elements).</summary>
    public NftTransaction DeleteChain(NftFamily family, string table, string chain) =>
        Add(NFT_MSG_DELCHAIN, 0, family, new ObjectName(table, chain), $"delete chain {Fam(family)} {table} {chain}");

    /// <summary>Deletes every rule of a chain (NFT_MSG_DELRULE without a handle).</summary>
    public NftTransaction FlushChain(NftFamily family, string table, string chain) =>
        Add(NFT_MSG_DELRULE, 0, family, new ObjectName(table, chain), $"flush chain {Fam(family)} {table} {chain}");

    /// <summary>Appends a rule (after <see cref="NftRule.Position"/> when set).</summary>
    public NftTransaction AddRule(NftRule rule) =>
        Add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, rule.Family, rule, $"add rule {Fam(rule.Family)} {rule.Table} {rule.Chain}");

    /// <summary>Inserts a rule at the top of its chain (before <see cref="NftRule.Position"/> when set).</summary>
    public NftTransaction InsertRule(NftRule rule) =>
        Add(NFT_MSG_NEWRULE, NLM_F_CREATE, rule.Family, rule, $"insert rule {Fam(rule.Family)} {rule.Table} {rule.Chain}");

    public NftTransaction DeleteRule(NftFamily family, string table, string chain, ulong handle) =>
        Add(NFT_MSG_DELRULE, 0, family, new ObjectName(table, chain, handle), $"delete rule {Fam(family)} {table} {chain} handle {handle}");

    public NftTransaction AddSet(NftSet set) =>
        Add(NFT_MSG_NEWSET, NLM_F_CREATE, set.Family, set, $"add {(set.IsMap ? "map" : "set")} {Fam(set.Family)} {set.Table} {set.Name}");

    public NftTransaction DeleteSet(NftFamily family, string table, string set) =>
        Add(NFT_MSG_DELSET, 0, family, new ObjectName(table, set), $"delete set {Fam(family)} {table} {set}");

    /// <summary>
    /// Adds elements; an existing element with the same key and value is not an error.
    /// <paramref name="setId"/> (NFTA_SET_ELEM_LIST_SET_ID) is only a fallback for the name.
    /// </summary>
    public NftTransaction AddElements(NftFamily family, string table, string set, IReadOnlyList<NftSetElement> elements, uint? setId = null)
        => AddElementMessages(NFT_MSG_NEWSETELEM, NLM_F_CREATE, "add element", family, table, set, elements, setId);

    /// <summary>
    /// Makes existing elements expire <paramref name="after"/> the commit (default and least: 1 ms, which the kernel
    /// rounds up to one jiffy): NFT_MSG_NEWSETELEM without NLM_F_EXCL carrying NFTA_SET_ELEM_EXPIRATION, the kernel's
    /// set element timeout update (Linux 6.10; what <c>nft add element … { KEY expires 1ms : VALUE }</c> sends). An expired element is at once invisible to lookups, GET and dumps; the
    /// set's garbage collector frees it later. Unlike <see cref="DeleteElements"/>, the commit leaves no work for an
    /// RCU grace period, so closing the socket afterwards does not wait for one.
    /// <para>Give each element's key and, in a map, its value exactly as stored (another value is a clash: EEXIST).
    /// The set needs <see cref="NftSetFlags.Timeout"/> (EINVAL otherwise) and the element a timeout, its own or the
    /// set's default (EOPNOTSUPP otherwise). A missing key is added and expires at once. Kernels before the update
    /// support accept the message and change nothing: look the element up to know.</para>
    /// </summary>
    public NftTransaction ExpireElements(NftFamily family, string table, string set, IReadOnlyList<NftSetElement> elements, TimeSpan? after = null)
    {
        TimeSpan expiration = after ?? TimeSpan.FromMilliseconds(1);
        if (expiration < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(after), "an expiration of 0 ms is no update: give at least 1 ms");
        }
        var expiring = new NftSetElement[elements.Count];
        for (int i = 0; i < expiring.Length; i++)
        {
            expiring[i] = elements[i] with { Expiration = expiration };
        }
        return AddElementMessages(NFT_MSG_NEWSETELEM, NLM_F_CREATE, "expire element", family, table, set, expiring);
    }

    /// <summary>Deletes elements by key; a missing key fails the transaction with ENOENT.</summary>
    public NftTransaction DeleteElements(NftFamily family, string table, string set, IReadOnlyList<NftSetElement> elements)
        => AddElementMessages(NFT_MSG_DELSETELEM, 0, "delete element", family, table, set, elements);

    /// <summary>One element message per <see cref="ElementsPerMessage"/> elements (add, expire and delete alike).</summary>
    private NftTransaction AddElementMessages(ushort message, ushort flags, string verb, NftFamily family, string table, string set, IReadOnlyList<NftSetElement> elements, uint? setId = null)
    {
        for (int i = 0; i < elements.Count; i += ElementsPerMessage)
        {
            var chunk = elements.Skip(i).Take(ElementsPerMessage).ToArray();
            Add(message, flags, family, new ElementList(table, set, chunk, setId), $"{verb} {Fam(family)} {table} {set} {{ {string.Join(", ", chunk.Select(e => e.ToString()))} }}");
        }
        return this;
    }

    /// <summary>Deletes every element of a set.</summary>
    public NftTransaction FlushSet(NftFamily family, string table, string set) =>
        Add(NFT_MSG_DELSETELEM, 0, family, new ElementList(table, set, null), $"flush set {Fam(family)} {table} {set}");

    /// <summary>Appends every operation of <paramref name="other"/>.</summary>
    public NftTransaction Append(NftTransaction other)
    {
        _operations.AddRange(other._operations);
        return this;
    }

    /// <summary>The operation whose message has this (0-based) index among the object messages.</summary>
    internal string DescribeAt(int index) => index >= 0 && index < _operations.Count ? _operations[index].Description : "nftables batch";

    internal string DescribeFailure(ushort requestType)
    {
        int message = Nfnetlink.NftMessageOf(requestType);
        var candidates = _operations.Where(o => o.Message == message).ToArray();
        return candidates.Length == 1 ? candidates[0].Description
            : candidates.Length > 1 ? MessageName((ushort)message) + $" (one of {candidates.Length} in the batch)"
            : "nftables batch";
    }

    /// <summary>Encodes the batch: BATCH_BEGIN, every operation, BATCH_END. Only the last operation asks for an ACK.</summary>
    internal void Write(ref NetlinkWriter writer)
    {
        Nfnetlink.BatchMarker(ref writer, Nfnetlink.NFNL_MSG_BATCH_BEGIN);
        uint setId = 0;
        for (int i = 0; i < _operations.Count; i++)
        {
            Operation op = _operations[i];
            ushort flags = op.Flags;
            if (i == _operations.Count - 1)
            {
                flags |= NLM_F_ACK;
            }
            Nfnetlink.Begin(ref writer, op.Message, flags, op.Family);
            WriteBody(ref writer, op, ref setId);
        }
        Nfnetlink.BatchMarker(ref writer, Nfnetlink.NFNL_MSG_BATCH_END);
        writer.EndMessage();
    }

    /// <summary>Writes one operation as a standalone message (no batch envelope): for byte comparisons.</summary>
    internal void WriteOperation(ref NetlinkWriter writer, int index, ushort extraFlags = 0)
    {
        uint setId = 0;
        Operation op = _operations[index];
        Nfnetlink.Begin(ref writer, op.Message, (ushort)(op.Flags | extraFlags), op.Family);
        WriteBody(ref writer, op, ref setId);
        writer.EndMessage();
    }

    private static void WriteBody(ref NetlinkWriter writer, Operation op, ref uint setId)
    {
        switch (op.Subject)
        {
            case NftTable table:
                table.Write(ref writer);
                break;
            case NftChain chain:
                chain.Write(ref writer);
                break;
            case NftRule rule:
                rule.Write(ref writer);
                break;
            case NftSet set:
                set.Write(ref writer, ++setId);
                break;
            case ObjectName name when op.Message == NFT_MSG_DELTABLE:
                writer.AttributeString(NftTable.NFTA_TABLE_NAME, name.Table);
                break;
            case ObjectName name when op.Message == NFT_MSG_DELCHAIN:
                writer.AttributeString(NftChain.NFTA_CHAIN_TABLE, name.Table);
                writer.AttributeString(NftChain.NFTA_CHAIN_NAME, name.Name!);
                break;
            case ObjectName name when op.Message == NFT_MSG_DELRULE:
                writer.AttributeString(NftRule.NFTA_RULE_TABLE, name.Table);
                writer.AttributeString(NftRule.NFTA_RULE_CHAIN, name.Name!);
                if (name.Handle is ulong handle)
                {
                    writer.AttributeU64BigEndian(NftRule.NFTA_RULE_HANDLE, handle);
                }
                break;
            case ObjectName name when op.Message == NFT_MSG_DELSET:
                writer.AttributeString(NftSet.NFTA_SET_TABLE, name.Table);
                writer.AttributeString(NftSet.NFTA_SET_NAME, name.Name!);
                break;
            case ElementList list:
                writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_TABLE, list.Table);
                writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_SET, list.Set);
                if (list.SetId is uint id)
                {
                    writer.AttributeU32BigEndian(NftSetElement.NFTA_SET_ELEM_LIST_SET_ID, id);
                }
                if (list.Elements is { } elements)
                {
                    using var nest = writer.Nest(NftSetElement.NFTA_SET_ELEM_LIST_ELEMENTS);
                    foreach (NftSetElement element in elements)
                    {
                        element.Write(ref writer, keyOnly: op.Message == NFT_MSG_DELSETELEM);
                    }
                }
                break;
            default:
                throw new InvalidOperationException("unknown nftables operation " + op.Description);
        }
    }

    private NftTransaction Add(ushort message, ushort flags, NftFamily family, object subject, string description)
    {
        _operations.Add(new Operation(message, flags, family, subject, description));
        return this;
    }

    private static string Fam(NftFamily family) => family switch
    {
        NftFamily.Inet => "inet",
        NftFamily.IPv4 => "ip",
        NftFamily.IPv6 => "ip6",
        NftFamily.Bridge => "bridge",
        NftFamily.Netdev => "netdev",
        NftFamily.Arp => "arp",
        _ => "unspec",
    };
}
