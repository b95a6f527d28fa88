namespace Cni.Linux.Netlink;

/// <summary>Netlink message types and flags (linux/netlink.h) under their kernel names.</summary>
public static class NetlinkConstants
{
    // struct nlmsghdr is 16 bytes; messages and attributes are 4-byte aligned.
    public const int NLMSG_HDRLEN = 16;
    public const int NLA_HDRLEN = 4;
    public const int NLMSG_ALIGNTO = 4;

    // Control message types.
    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;
    public const ushort NLMSG_MIN_TYPE = 0x10;

    // Standard flags.
    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;
    public const ushort NLM_F_ECHO = 0x08;
    public const ushort NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_DUMP_FILTERED = 0x20;

    // Modifiers to GET requests.
    public const ushort NLM_F_ROOT = 0x100;
    public const ushort NLM_F_MATCH = 0x200;
    public const ushort NLM_F_ATOMIC = 0x400;
    public const ushort NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;

    // Modifiers to NEW requests.
    public const ushort NLM_F_REPLACE = 0x100;
    public const ushort NLM_F_EXCL = 0x200;
    public const ushort NLM_F_CREATE = 0x400;
    public const ushort NLM_F_APPEND = 0x800;

    // Flags of NLMSG_ERROR acknowledgements.
    public const ushort NLM_F_CAPPED = 0x100;
    public const ushort NLM_F_ACK_TLVS = 0x200;

    // Attribute type flags.
    public const ushort NLA_F_NESTED = 0x8000;
    public const ushort NLA_F_NET_BYTEORDER = 0x4000;
    public const ushort NLA_TYPE_MASK = 0x3fff;

    // Extended ack attributes (enum nlmsgerr_attrs).
    public const ushort NLMSGERR_ATTR_MSG = 1;
    public const ushort NLMSGERR_ATTR_OFFS = 2;

    // Socket options at SOL_NETLINK.
    internal const int SOL_NETLINK = 270;
    internal const int NETLINK_CAP_ACK = 10;
    internal const int NETLINK_EXT_ACK = 11;
    internal const int NETLINK_GET_STRICT_CHK = 12;

    public static int Align(int length) => (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

/// <summary>Netlink protocol families this library speaks (linux/netlink.h).</summary>
public enum NetlinkProtocol
{
    /// <summary>NETLINK_ROUTE: links, addresses, routes, neighbours.</summary>
    Route = 0,

    /// <summary>NETLINK_NETFILTER: nftables, conntrack.</summary>
    Netfilter = 12,
}
