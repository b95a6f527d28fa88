using Cni.Linux.Interop;
using Cni.Linux.Netfilter;

namespace Cni.Firewall;

/// <summary>
/// How DEL takes an attachment's elements out of <c>inet sharpcni</c>: it makes them expire rather than
/// deleting them. Deleting set elements leaves work for an RCU grace period, and the kernel finishes that work
/// when the process closes its nftables socket (NETLINK_URELEASE flushes the netns's destroy work), which
/// costs a DEL ~10 ms at exit. An element of a set with timeouts that is told to expire 1 ms from now (see
/// <see cref="NftTransaction.ExpireElements"/>) is updated in place, leaves nothing to release, and is
/// invisible to lookups, GET and dumps one jiffy later; the set's garbage collector frees it in the
/// background. The sets this is used for are made with <see cref="SharpCniTable.Expiring"/>.
/// <para>After the commit one GET of a probe element, the last of the batch (which the kernel updates last), tells
/// whether the kernel took the expiry (<see cref="NftConnection.ProbeExpiry"/>). Until the next jiffy (4 ms at
/// HZ=250) the element is still there; <see cref="NftConnection.AwaitExpiryBeforeClose"/> waits for it to go, on
/// the plugin call's connection at the end of the call, so the call's remaining work (the bridge deletes its
/// veth) overlaps the wait; on other connections at once.</para>
/// <para>Falls back to deleting: when a set has no timeouts (EINVAL, or EOPNOTSUPP for an element without a
/// timeout: a table made before this layout), and when the probe element keeps its time (a kernel without the
/// timeout update support accepts the message and changes nothing). GC, which removes many attachments in one
/// process, deletes (one release at exit in all, rather than waits of up to a jiffy each).</para>
/// </summary>
internal sealed class ElementRemoval
{
    private readonly List<(string Set, NftSetElement Found)> _planned = [];
    private readonly HashSet<string> _keys = [];

    /// <summary>
    /// Plans removing <paramref name="found"/>, an element of <paramref name="set"/> as GET returned it (its value,
    /// for a map, is what the expiry must repeat). A second call for the same key is ignored.
    /// </summary>
    public void Add(string set, NftSetElement found)
    {
        if (_keys.Add(set + " " + Convert.ToHexString(found.Key)))
        {
            _planned.Add((set, found));
        }
    }

    /// <summary>
    /// Removes the planned elements: expires them (when <paramref name="expire"/>) and waits until they are gone (or,
    /// on the call's connection, until it closes), or deletes them. Returns false when the kernel kept the expired
    /// elements as they were, or they outlived the wait: the caller plans again
    /// from fresh state and deletes (elements that expired meanwhile are no longer found, so the delete does
    /// not fail on them). Errors other than a set without timeouts propagate (ENOENT, EEXIST: a race).
    /// </summary>
    public bool Commit(NftConnection nft, bool expire)
    {
        if (_planned.Count == 0)
        {
            return true;
        }
        if (!expire)
        {
            nft.Commit(Transaction(expire: false));
            return true;
        }
        try
        {
            nft.Commit(Transaction(expire: true));
        }
        catch (LinuxException e) when (e.Errno is Errno.EINVAL or Errno.EOPNOTSUPP)
        {
            nft.Commit(Transaction(expire: false)); // a set of the layout before timeouts: nothing was applied, delete instead
            return true;
        }
        // The probe is the last element of the batch, which the kernel updates last.
        (string set, NftSetElement probe) = _planned[^1];
        return nft.ProbeExpiry(SharpCniTable.Family, SharpCniTable.Name, set, probe.Key) switch
        {
            NftExpiry.Gone => true,
            NftExpiry.Expiring => nft.AwaitExpiryBeforeClose(SharpCniTable.Family, SharpCniTable.Name, set, probe.Key),
            _ => false,
        };
    }

    /// <summary>The planned elements' expiry (key and value as found) or deletion (key only), in planning order.</summary>
    private NftTransaction Transaction(bool expire)
    {
        var tx = new NftTransaction();
        foreach ((string set, NftSetElement found) in _planned)
        {
            if (expire)
                tx.ExpireElements(SharpCniTable.Family, SharpCniTable.Name, set, [new NftSetElement(found.Key) { Data = found.Data, Verdict = found.Verdict }]);
            else
                tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, set, [new NftSetElement(found.Key)]);
        }
        return tx;
    }
}
