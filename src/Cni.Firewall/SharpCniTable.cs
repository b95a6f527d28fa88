using Cni.Linux.Netfilter;

namespace Cni.Firewall;

/// <summary>
/// The one nftables table this project owns: <c>inet sharpcni</c>. Nothing here touches another
/// tool's tables. Base chains hold a constant number of rules (dispatch through maps), so adding
/// or removing a container never rewrites a chain that grows with the number of containers.
/// </summary>
public static class SharpCniTable
{
    public const NftFamily Family = NftFamily.Inet;
    public const string Name = "sharpcni";

    /// <summary>The longest comment an element or rule can carry (nft's comment limit, less its NUL).</summary>
    public const int MaxCommentLength = NftUserData.NFTNL_UDATA_COMMENT_MAXLEN - 1;

    /// <summary>
    /// Default element timeout of the sets holding per-attachment elements: a century, so an element stays until DEL
    /// makes it expire (<see cref="ElementRemoval"/>). The kernel takes timeouts below ~584 years.
    /// </summary>
    public static readonly TimeSpan ElementLifetime = TimeSpan.FromDays(36525);

    /// <summary><paramref name="set"/> with timeouts (NFT_SET_TIMEOUT) and <see cref="ElementLifetime"/> as its default.</summary>
    public static NftSet Expiring(NftSet set) => set with { Flags = set.Flags | NftSetFlags.Timeout, Timeout = ElementLifetime };

    /// <summary>
    /// <paramref name="wanted"/> as it can be added over <paramref name="existing"/> (the table's sets, read back):
    /// the kernel refuses (EEXIST) a set whose flags differ from the one already there, and sets made before
    /// <see cref="Expiring"/> have no timeouts. Such a set is kept as it is; DEL then deletes its elements.
    /// </summary>
    public static NftSet AsFound(NftSet wanted, IReadOnlyCollection<NftSet>? existing)
    {
        NftSet? there = existing?.FirstOrDefault(s => s.Name == wanted.Name);
        return there is not null && (wanted.Flags & NftSetFlags.Timeout) != 0 && (there.Flags & NftSetFlags.Timeout) == 0
            ? wanted with { Flags = wanted.Flags & ~NftSetFlags.Timeout, Timeout = null }
            : wanted;
    }

    /// <summary>The sets of the table as the kernel holds them, or none when the table is missing.</summary>
    public static IReadOnlyList<NftSet> ListSets(NftConnection nft)
    {
        try
        {
            return nft.ListSets(Family, Name);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return [];
        }
    }

    /// <summary>The table itself (idempotent to add).</summary>
    public static NftTransaction AddTable(NftTransaction tx) =>
        tx.AddTable(new NftTable(Family, Name));

    /// <summary>
    /// Adds <paramref name="chain"/> if missing, then replaces its rules with <paramref name="rules"/>
    /// (flush + add in the same batch: idempotent and atomic, constant size).
    /// </summary>
    internal static NftTransaction ReplaceChain(NftTransaction tx, NftChain chain, IEnumerable<NftRule> rules)
    {
        tx.AddChain(chain).FlushChain(Family, Name, chain.Name);
        foreach (NftRule rule in rules)
        {
            tx.AddRule(rule);
        }
        return tx;
    }

    /// <summary>Deletes the whole table (every ruleset of this project on the node).</summary>
    public static void Delete(NftConnection nft)
    {
        try
        {
            nft.Commit(new NftTransaction().DeleteTable(Family, Name));
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
        }
    }
}
