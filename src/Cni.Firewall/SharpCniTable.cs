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
