using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>Netfilter hooks (NF_INET_*, linux/netfilter.h; NF_NETDEV_INGRESS for netdev).</summary>
public enum NftHook : uint
{
    Prerouting = NftBaseChain.NF_INET_PRE_ROUTING,
    Input = NftBaseChain.NF_INET_LOCAL_IN,
    Forward = NftBaseChain.NF_INET_FORWARD,
    Output = NftBaseChain.NF_INET_LOCAL_OUT,
    Postrouting = NftBaseChain.NF_INET_POST_ROUTING,
}

/// <summary>What makes a chain a base chain: its type ("filter", "nat", "route"), hook, priority and policy.</summary>
public sealed record NftBaseChain(string Type, NftHook Hook, int Priority, NftVerdictCode Policy = NftVerdictCode.Accept)
{
    public const uint NF_INET_PRE_ROUTING = 0;
    public const uint NF_INET_LOCAL_IN = 1;
    public const uint NF_INET_FORWARD = 2;
    public const uint NF_INET_LOCAL_OUT = 3;
    public const uint NF_INET_POST_ROUTING = 4;

    // Standard priorities (nft's "filter", "dstnat", "srcnat" keywords).
    public const int NF_IP_PRI_FILTER = 0;
    public const int NF_IP_PRI_NAT_DST = -100;
    public const int NF_IP_PRI_NAT_SRC = 100;

    /// <summary>Bridge family: before bridge DNAT (enum nf_br_hook_priorities; nft's "dstnat" in a bridge table).</summary>
    public const int NF_BR_PRI_NAT_DST_BRIDGED = -300;

    public const string TypeFilter = "filter";
    public const string TypeNat = "nat";

    public static NftBaseChain Filter(NftHook hook, int priority = NF_IP_PRI_FILTER, NftVerdictCode policy = NftVerdictCode.Accept) => new(TypeFilter, hook, priority, policy);
    public static NftBaseChain DestinationNat(NftHook hook) => new(TypeNat, hook, NF_IP_PRI_NAT_DST);
    public static NftBaseChain SourceNat(NftHook hook) => new(TypeNat, hook, NF_IP_PRI_NAT_SRC);
}

/// <summary>An nf_tables chain (enum nft_chain_attributes); base chains carry <see cref="Base"/>.</summary>
public sealed record NftChain(NftFamily Family, string Table, string Name)
{
    internal const ushort NFTA_CHAIN_TABLE = 1;
    internal const ushort NFTA_CHAIN_HANDLE = 2;
    internal const ushort NFTA_CHAIN_NAME = 3;
    internal const ushort NFTA_CHAIN_HOOK = 4;
    internal const ushort NFTA_CHAIN_POLICY = 5;
    internal const ushort NFTA_CHAIN_USE = 6;
    internal const ushort NFTA_CHAIN_TYPE = 7;
    internal const ushort NFTA_CHAIN_FLAGS = 10;
    internal const ushort NFTA_CHAIN_USERDATA = 12;

    // enum nft_hook_attributes
    internal const ushort NFTA_HOOK_HOOKNUM = 1;
    internal const ushort NFTA_HOOK_PRIORITY = 2;

    public NftBaseChain? Base { get; init; }

    /// <summary>The comment nft prints ("comment ..."), stored as NFTA_CHAIN_USERDATA.</summary>
    public string? Comment { get; init; }

    public ulong Handle { get; init; }

    /// <summary>Rules and map elements that refer to this chain (NFTA_CHAIN_USE, dumps only).</summary>
    public uint Use { get; init; }

    internal void Write(ref NetlinkWriter writer)
    {
        writer.AttributeString(NFTA_CHAIN_TABLE, Table);
        writer.AttributeString(NFTA_CHAIN_NAME, Name);
        if (Base is not null)
        {
            writer.AttributeString(NFTA_CHAIN_TYPE, Base.Type);
            writer.AttributeU32BigEndian(NFTA_CHAIN_POLICY, (uint)(int)Base.Policy);
            using var hook = writer.Nest(NFTA_CHAIN_HOOK);
            writer.AttributeU32BigEndian(NFTA_HOOK_HOOKNUM, (uint)Base.Hook);
            writer.AttributeU32BigEndian(NFTA_HOOK_PRIORITY, (uint)Base.Priority);
        }
        if (Comment is not null)
        {
            writer.Attribute(NFTA_CHAIN_USERDATA, NftUserData.Comment(Comment, NftUserData.NFTNL_UDATA_CHAIN_COMMENT));
        }
    }

    internal static NftChain Read(NetlinkMessage message)
    {
        var family = (NftFamily)message.Payload[0];
        string table = "", name = "", type = "";
        string? comment = null;
        ulong handle = 0;
        uint use = 0;
        uint? hookNum = null;
        int priority = 0;
        var policy = NftVerdictCode.Accept;
        foreach (NetlinkAttribute a in message.Attributes(Nfnetlink.HeaderSize))
        {
            switch (a.Type)
            {
                case NFTA_CHAIN_TABLE: table = a.String; break;
                case NFTA_CHAIN_NAME: name = a.String; break;
                case NFTA_CHAIN_HANDLE: handle = a.U64BigEndian; break;
                case NFTA_CHAIN_USE: use = a.U32BigEndian; break;
                case NFTA_CHAIN_TYPE: type = a.String; break;
                case NFTA_CHAIN_POLICY: policy = (NftVerdictCode)(int)a.U32BigEndian; break;
                case NFTA_CHAIN_USERDATA: comment = NftUserData.ReadComment(a.Value, NftUserData.NFTNL_UDATA_CHAIN_COMMENT); break;
                case NFTA_CHAIN_HOOK:
                    foreach (NetlinkAttribute h in a.Nested)
                    {
                        if (h.Type == NFTA_HOOK_HOOKNUM)
                        {
                            hookNum = h.U32BigEndian;
                        }
                        else if (h.Type == NFTA_HOOK_PRIORITY)
                        {
                            priority = (int)h.U32BigEndian;
                        }
                    }
                    break;
            }
        }
        return new NftChain(family, table, name)
        {
            Handle = handle,
            Use = use,
            Comment = comment,
            Base = hookNum is uint hn ? new NftBaseChain(type, (NftHook)hn, priority, policy) : null,
        };
    }
}
