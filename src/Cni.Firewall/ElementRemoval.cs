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
    private readonly NftTransaction _expire = new();
    private readonly NftTransaction _delete = new();
    private readonly HashSet<string> _planned = [];
    private (string Set, byte[] Key)? _probe;

    /// <summary>
    /// Plans removing <paramref name="found"/>, an element of <paramref name="set"/> as GET returned it (its value,
    /// for a map, is what the expiry must repeat). A second call for the same key is ignored.
    /// </summary>
    public void Add(string set, NftSetElement found)
    {
        if (!_planned.Add(set + " " + Convert.ToHexString(found.Key)))
        {
            return;
        }
        _expire.ExpireElements(SharpCniTable.Family, SharpCniTable.Name, set, [new NftSetElement(found.Key) { Data = found.Data, Verdict = found.Verdict }]);
        _delete.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, set, [new NftSetElement(found.Key)]);
        _probe = (set, found.Key);
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
        if (_probe is not (string set, byte[] key))
        {
            return true;
        }
        if (!expire)
        {
            nft.Commit(_delete);
            return true;
        }
        try
        {
            nft.Commit(_expire);
        }
        catch (LinuxException e) when (e.Errno is Errno.EINVAL or Errno.EOPNOTSUPP)
        {
            nft.Commit(_delete); // a set of the layout before timeouts: nothing was applied, delete instead
            return true;
        }
        return nft.ProbeExpiry(SharpCniTable.Family, SharpCniTable.Name, set, key) switch
        {
            NftExpiry.Gone => true,
            NftExpiry.Expiring => nft.AwaitExpiryBeforeClose(SharpCniTable.Family, SharpCniTable.Name, set, key),
            _ => false,
        };
    }
}
