using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using static Cni.Linux.Netfilter.NfTables;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netfilter;

/// <summary>
/// nftables over an NETLINK_NETFILTER socket: commits <see cref="NftTransaction"/>s atomically and
/// lists (dumps) tables, chains, rules, sets and elements. Open it inside a namespace once with
/// <see cref="OpenIn"/> and use it from any thread (one call at a time).
/// </summary>
public sealed class NftConnection : IDisposable
{
    private readonly NetlinkSocket _socket;
    private readonly bool _ownsSocket;
    private bool _closesLater;
    private List<(NftFamily Family, string Table, string Set, byte[] Key, byte[]? KeyEnd)>? _expiring;

    public NftConnection(NetlinkSocket socket, bool ownsSocket = false)
    {
        if (socket.Protocol != NetlinkProtocol.Netfilter)
        {
            throw new ArgumentException("nftables needs a NETLINK_NETFILTER socket", nameof(socket));
        }
        _socket = socket;
        _ownsSocket = ownsSocket;
    }

    /// <summary>A connection in the calling thread's network namespace.</summary>
    public static NftConnection Open() => new(NetlinkSocket.Open(NetlinkProtocol.Netfilter), ownsSocket: true);

    /// <summary>A connection bound to <paramref name="ns"/>.</summary>
    public static NftConnection OpenIn(NetNs ns) => new(NetlinkSocket.OpenIn(ns, NetlinkProtocol.Netfilter), ownsSocket: true);

    /// <summary>
    /// Sends the whole transaction in one batch and waits for the kernel's verdict. On failure nothing
    /// was applied; the <see cref="NetlinkException"/> carries the errno, the kernel's extended-ack
    /// text and, in its operation, which step was refused.
    /// </summary>
    public void Commit(NftTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.IsEmpty)
        {
            return;
        }
        var writer = new NetlinkWriter(4096);
        try
        {
            transaction.Write(ref writer);
            if (!_socket.TryRequest(ref writer, out NetlinkException? error, null, "nftables transaction"))
            {
                throw new NetlinkException(error!.Errno, "nftables: " + transaction.DescribeFailure(error.RequestType), error.RequestType, error.KernelMessage, error.AttributeOffset);
            }
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Tables of <paramref name="family"/> (all families for Unspec).</summary>
    public IReadOnlyList<NftTable> ListTables(NftFamily family = NftFamily.Unspec)
    {
        var result = new List<NftTable>();
        Dump(NFT_MSG_GETTABLE, family, null, null, m => result.Add(NftTable.Read(m)));
        return result;
    }

    /// <summary>Chains of one table.</summary>
    public IReadOnlyList<NftChain> ListChains(NftFamily family, string table)
    {
        var result = new List<NftChain>();
        Dump(NFT_MSG_GETCHAIN, family, NftChain.NFTA_CHAIN_TABLE, table, m =>
        {
            NftChain chain = NftChain.Read(m);
            if (chain.Table == table)
            {
                result.Add(chain); // older kernels ignore the table filter for chain dumps
            }
        });
        return result;
    }

    /// <summary>Rules of a table, or of one chain; with handles and userdata. ENOENT if the table or chain is missing.</summary>
    public IReadOnlyList<NftRule> ListRules(NftFamily family, string table, string? chain = null)
    {
        var result = new List<NftRule>();
        var writer = new NetlinkWriter(512);
        try
        {
            Nfnetlink.Begin(ref writer, NFT_MSG_GETRULE, NLM_F_DUMP, family);
            writer.AttributeString(NftRule.NFTA_RULE_TABLE, table);
            if (chain is not null)
            {
                writer.AttributeString(NftRule.NFTA_RULE_CHAIN, chain);
            }
            _socket.Dump(ref writer, m =>
            {
                if (Nfnetlink.NftMessageOf(m.Type) == NFT_MSG_NEWRULE)
                {
                    result.Add(NftRule.Read(m));
                }
            }, $"list rules {table} {chain}");
        }
        finally
        {
            writer.Dispose();
        }
        return result;
    }

    public IReadOnlyList<NftSet> ListSets(NftFamily family, string table)
    {
        var result = new List<NftSet>();
        Dump(NFT_MSG_GETSET, family, NftSet.NFTA_SET_TABLE, table, m => result.Add(NftSet.Read(m)));
        return result;
    }

    /// <summary>Elements of one set or map, with their userdata. ENOENT if the set is missing.</summary>
    public IReadOnlyList<NftSetElement> ListElements(NftFamily family, string table, string set)
    {
        var result = new List<NftSetElement>();
        var writer = new NetlinkWriter(512);
        try
        {
            Nfnetlink.Begin(ref writer, NFT_MSG_GETSETELEM, NLM_F_DUMP, family);
            writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_TABLE, table);
            writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_SET, set);
            _socket.Dump(ref writer, m =>
            {
                if (Nfnetlink.NftMessageOf(m.Type) == NFT_MSG_NEWSETELEM)
                {
                    NftSetElement.ReadAll(m, result);
                }
            }, $"list set {table} {set}");
        }
        finally
        {
            writer.Dispose();
        }
        return result;
    }

    /// <summary>
    /// One element looked up by key (NFT_MSG_GETSETELEM without a dump), or null when the key, set or
    /// table does not exist. Costs the same however big the set is. In a concatenated interval set
    /// give the range's <paramref name="keyEnd"/> too.
    /// </summary>
    public NftSetElement? GetElement(NftFamily family, string table, string set, byte[] key, byte[]? keyEnd = null)
    {
        var found = new List<NftSetElement>();
        var writer = new NetlinkWriter(512);
        try
        {
            Nfnetlink.Begin(ref writer, NFT_MSG_GETSETELEM, NLM_F_ACK, family);
            writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_TABLE, table);
            writer.AttributeString(NftSetElement.NFTA_SET_ELEM_LIST_SET, set);
            using (writer.Nest(NftSetElement.NFTA_SET_ELEM_LIST_ELEMENTS))
            {
                new NftSetElement(key) { KeyEnd = keyEnd }.Write(ref writer, keyOnly: true);
            }
            bool ok = _socket.TryRequest(ref writer, out NetlinkException? error, m =>
            {
                if (Nfnetlink.NftMessageOf(m.Type) == NFT_MSG_NEWSETELEM)
                {
                    NftSetElement.ReadAll(m, found);
                }
            }, $"get element {table} {set}");
            if (!ok)
            {
                if (IsNotFound(error!))
                {
                    return null;
                }
                throw error!;
            }
        }
        finally
        {
            writer.Dispose();
        }
        return found.Count > 0 ? found[0] : null;
    }

    /// <summary>Longest wait in <see cref="AwaitExpiry"/>: one jiffy at HZ=100 and then some.</summary>
    public static readonly TimeSpan ExpiryWaitLimit = TimeSpan.FromMilliseconds(12);

    /// <summary>
    /// One lookup right after a commit of <see cref="NftTransaction.ExpireElements"/>: the element is gone, or
    /// expiring (still there with at most <see cref="ExpiryWaitLimit"/> left: the kernel expires it one jiffy after
    /// the commit), or kept (more time left: a kernel without the timeout update support accepted the message and
    /// changed nothing; delete the element instead).
    /// </summary>
    public NftExpiry ProbeExpiry(NftFamily family, string table, string set, byte[] key, byte[]? keyEnd = null) =>
        GetElement(family, table, set, key, keyEnd) switch
        {
            null => NftExpiry.Gone,
            { Expiration: TimeSpan left } when left <= ExpiryWaitLimit => NftExpiry.Expiring,
            _ => NftExpiry.Kept,
        };

    /// <summary>
    /// True once the element is gone (GET finds nothing). While GET still returns it with little time left
    /// (<see cref="NftExpiry.Expiring"/>) this sleeps 1 ms at a time, up to <paramref name="limit"/> (default
    /// <see cref="ExpiryWaitLimit"/>). False at once when the element shows no expiry that close, and after the limit.
    /// </summary>
    public bool AwaitExpiry(NftFamily family, string table, string set, byte[] key, byte[]? keyEnd = null, TimeSpan? limit = null)
    {
        TimeSpan budget = limit ?? ExpiryWaitLimit;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int round = 0; round < 64; round++)
        {
            NftSetElement? element = GetElement(family, table, set, key, keyEnd);
            if (element is null)
            {
                return true;
            }
            TimeSpan waited = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            if (element.Expiration is not TimeSpan left || waited + left > budget + TimeSpan.FromMilliseconds(1) || waited >= budget)
            {
                return false;
            }
            Thread.Sleep(1);
        }
        return false;
    }

    /// <summary>
    /// <see cref="AwaitExpiry"/> for an element found <see cref="NftExpiry.Expiring"/>: now, or, on a connection whose
    /// close is put off (<see cref="CloseLater"/>), when it closes: the rest of the plugin call then overlaps the
    /// wait (up to a jiffy), and the element is still gone before the call ends. True when gone or put off.
    /// </summary>
    public bool AwaitExpiryBeforeClose(NftFamily family, string table, string set, byte[] key, byte[]? keyEnd = null)
    {
        if (!_closesLater)
        {
            return AwaitExpiry(family, table, set, key, keyEnd);
        }
        (_expiring ??= []).Add((family, table, set, key, keyEnd));
        return true;
    }

    /// <summary>True when the table exists.</summary>
    public bool TableExists(NftFamily family, string table) => ListTables(family).Any(t => t.Name == table);

    /// <summary>Closes the socket, after the waits <see cref="AwaitExpiryBeforeClose"/> put off (bounded; best effort).</summary>
    public void Dispose()
    {
        if (_expiring is { } expiring && !IsClosed)
        {
            _expiring = null;
            foreach ((NftFamily family, string table, string set, byte[] key, byte[]? keyEnd) in expiring)
            {
                try
                {
                    AwaitExpiry(family, table, set, key, keyEnd);
                }
                catch (LinuxException)
                {
                    // The element expires anyway (its expiry is committed); nothing to report at close.
                }
            }
        }
        if (_ownsSocket)
        {
            _socket.Dispose();
        }
    }

    /// <summary>True once the connection's socket is closed.</summary>
    public bool IsClosed => _socket.Handle.IsClosed;

    // Per thread: a plugin call runs on one thread (namespaces are entered on it), and calls on other threads (tests
    // run plugins in parallel in one process) keep their own connections.
    [ThreadStatic] private static List<NftConnection>? t_closeLater;

    /// <summary>
    /// Puts off closing this connection until <see cref="CloseDeferred"/>. Closing an nfnetlink socket waits until
    /// the kernel has released the transactions of the last commit, which it does after an RCU grace period
    /// (~10 ms here): a plugin that still has work to do after its commit (a DEL then deletes a veth, which waits
    /// for a grace period of its own) lets that release finish in the background, and the close is then free.
    /// Waits for expiring elements (<see cref="AwaitExpiryBeforeClose"/>) are put off to the close as well.
    /// </summary>
    public NftConnection CloseLater()
    {
        _closesLater = true;
        (t_closeLater ??= []).Add(this);
        return this;
    }

    [ThreadStatic] private static NftConnection? t_forCall;

    /// <summary>
    /// The calling thread's connection for the current plugin call: opened on first use, shared by every rule
    /// set of the call, closed by <see cref="CloseDeferred"/> when the call ends (see <see cref="CloseLater"/>).
    /// </summary>
    public static NftConnection ForCall() => t_forCall ??= Open().CloseLater();

    /// <summary>Closes every connection this thread put off with <see cref="CloseLater"/>.</summary>
    public static void CloseDeferred()
    {
        t_forCall = null;
        if (t_closeLater is not { Count: > 0 } pending)
        {
            return;
        }
        t_closeLater = null;
        foreach (var connection in pending)
        {
            connection.Dispose();
        }
    }

    private void Dump(ushort message, NftFamily family, ushort? filterType, string? filter, Action<NetlinkMessage> visit)
    {
        var writer = new NetlinkWriter(256);
        try
        {
            Nfnetlink.Begin(ref writer, message, NLM_F_DUMP, family);
            if (filterType is ushort type && filter is not null)
            {
                writer.AttributeString(type, filter);
            }
            int expected = message + 0; // replies to GETX are NEWX: one less than GET
            _socket.Dump(ref writer, m =>
            {
                if (Nfnetlink.NftMessageOf(m.Type) == expected - 1)
                {
                    visit(m);
                }
            }, "list " + MessageName((ushort)(message - 1)));
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>True when the error means the object (or its table, chain or set) does not exist.</summary>
    public static bool IsNotFound(Exception e) => e is LinuxException { Errno: Errno.ENOENT };
}

/// <summary>What <see cref="NftConnection.ProbeExpiry"/> found of an element right after its expiry was committed.</summary>
public enum NftExpiry
{
    /// <summary>GET finds nothing: expired (or deleted).</summary>
    Gone,
    /// <summary>Still there with at most <see cref="NftConnection.ExpiryWaitLimit"/> left: gone within a jiffy.</summary>
    Expiring,
    /// <summary>Still there with more time left: the kernel did not take the expiry.</summary>
    Kept,
}
