namespace Cni.Ipam.Cluster;

/// <summary>
/// Where cluster-ipam keeps its state under the configured prefix P. No call reads every allocation of the
/// cluster: a node reads its own blocks (a few, each with up to blockSize addresses) and one attachment key;
/// only a block claim reads the claimed block keys of one pool (keys only).
/// <code>
/// P/ipam/v1/claims/&lt;pool&gt;/&lt;block&gt;                  the node holding the block (created atomically, compare create_revision == 0)
/// P/ipam/v1/blocks/&lt;node&gt;/&lt;block&gt;                  the block's allocations (offset → attachment), compare-and-swap on mod_revision
/// P/ipam/v1/attachments/&lt;node&gt;/&lt;container&gt;/&lt;ifname&gt;  the addresses of one attachment
/// </code>
/// A CIDR in a key is written with '-' for '/' (10.244.0.64-26).
/// </summary>
public sealed class KeyLayout
{
    public KeyLayout(string prefix) => Root = prefix.TrimEnd('/') + "/ipam/v1/";

    public string Root { get; }
    public string Claims => Root + "claims/";
    public string Blocks => Root + "blocks/";
    public string Attachments => Root + "attachments/";

    public string PoolClaims(ClusterPool pool) => $"{Claims}{pool.Id}/";
    public string Claim(ClusterPool pool, AddressPrefix block) => $"{Claims}{pool.Id}/{CidrKey(block)}";
    public string Claim(string poolId, string blockCidr) => $"{Claims}{poolId}/{blockCidr.Replace('/', '-')}";
    public string NodeBlocks(string node) => $"{Blocks}{node}/";
    public string Block(string node, string blockCidr) => $"{Blocks}{node}/{blockCidr.Replace('/', '-')}";
    public string NodeAttachments(string node) => $"{Attachments}{node}/";
    public string Attachment(string node, string containerId, string ifName) => $"{Attachments}{node}/{containerId}/{ifName}";

    public static string CidrKey(AddressPrefix p) => $"{IPAddressMath.Format(p.Network.Address)}-{p.PrefixLength}";

    /// <summary>A node name becomes part of keys: letters, digits, '.', '_' and '-', at most 253, not starting with '.' or '-'.</summary>
    public static void ValidateNodeName(string node)
    {
        bool ok = node.Length is > 0 and <= 253 && node[0] is not ('.' or '-');
        foreach (char c in node) ok &= char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';
        if (!ok) throw new IpamConfigException($"cluster-ipam: invalid nodeName '{node}' (letters, digits, '.', '_' and '-', at most 253)");
    }
}
