namespace Cni.Linux.Netfilter;

/// <summary>nf_tables message types (enum nf_tables_msg_types) and shared list/expression attributes.</summary>
internal static class NfTables
{
    public const ushort NFT_MSG_NEWTABLE = 0;
    public const ushort NFT_MSG_GETTABLE = 1;
    public const ushort NFT_MSG_DELTABLE = 2;
    public const ushort NFT_MSG_NEWCHAIN = 3;
    public const ushort NFT_MSG_GETCHAIN = 4;
    public const ushort NFT_MSG_DELCHAIN = 5;
    public const ushort NFT_MSG_NEWRULE = 6;
    public const ushort NFT_MSG_GETRULE = 7;
    public const ushort NFT_MSG_DELRULE = 8;
    public const ushort NFT_MSG_NEWSET = 9;
    public const ushort NFT_MSG_GETSET = 10;
    public const ushort NFT_MSG_DELSET = 11;
    public const ushort NFT_MSG_NEWSETELEM = 12;
    public const ushort NFT_MSG_GETSETELEM = 13;
    public const ushort NFT_MSG_DELSETELEM = 14;

    // enum nft_list_attributes
    public const ushort NFTA_LIST_ELEM = 1;

    // enum nft_expr_attributes
    public const ushort NFTA_EXPR_NAME = 1;
    public const ushort NFTA_EXPR_DATA = 2;

    /// <summary>NFT_NAME_MAXLEN (table, chain, set names, including the NUL).</summary>
    public const int NFT_NAME_MAXLEN = 256;

    public static string MessageName(ushort nftMessage) => nftMessage switch
    {
        NFT_MSG_NEWTABLE => "add table",
        NFT_MSG_DELTABLE => "delete table",
        NFT_MSG_NEWCHAIN => "add chain",
        NFT_MSG_DELCHAIN => "delete chain",
        NFT_MSG_NEWRULE => "add rule",
        NFT_MSG_DELRULE => "delete rule",
        NFT_MSG_NEWSET => "add set",
        NFT_MSG_DELSET => "delete set",
        NFT_MSG_NEWSETELEM => "add element",
        NFT_MSG_DELSETELEM => "delete element",
        _ => "nf_tables message " + nftMessage,
    };
}

/// <summary>Address families of nf_tables objects (NFPROTO_*, linux/netfilter.h).</summary>
public enum NftFamily : byte
{
    Unspec = NfProto.NFPROTO_UNSPEC,
    Inet = NfProto.NFPROTO_INET,
    IPv4 = NfProto.NFPROTO_IPV4,
    Arp = NfProto.NFPROTO_ARP,
    Netdev = NfProto.NFPROTO_NETDEV,
    Bridge = NfProto.NFPROTO_BRIDGE,
    IPv6 = NfProto.NFPROTO_IPV6,
}

/// <summary>NFPROTO_* (linux/netfilter.h).</summary>
public static class NfProto
{
    public const byte NFPROTO_UNSPEC = 0;
    public const byte NFPROTO_INET = 1;
    public const byte NFPROTO_IPV4 = 2;
    public const byte NFPROTO_ARP = 3;
    public const byte NFPROTO_NETDEV = 5;
    public const byte NFPROTO_BRIDGE = 7;
    public const byte NFPROTO_IPV6 = 10;
}

/// <summary>IP protocol numbers used in rules (IPPROTO_*, netinet/in.h).</summary>
public static class IpProto
{
    public const byte IPPROTO_ICMP = 1;
    public const byte IPPROTO_TCP = 6;
    public const byte IPPROTO_UDP = 17;
    public const byte IPPROTO_ICMPV6 = 58;
    public const byte IPPROTO_SCTP = 132;
}
