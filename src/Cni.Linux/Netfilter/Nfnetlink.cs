using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netfilter;

/// <summary>struct nfgenmsg (linux/netfilter/nfnetlink.h): the family header of every nfnetlink message.</summary>
[StructLayout(LayoutKind.Sequential)]
#pragma warning disable CS8981 // named like the kernel struct
internal struct nfgenmsg
{
    public byte nfgen_family;
    public byte version;
    /// <summary>Big-endian: the subsystem id for batch messages, 0 otherwise.</summary>
    public ushort res_id;
}
#pragma warning restore CS8981

/// <summary>nfnetlink framing: subsystem message types and the batch begin/end envelope.</summary>
internal static class Nfnetlink
{
    public const byte NFNETLINK_V0 = 0;
    public const ushort NFNL_SUBSYS_NFTABLES = 10;
    public const ushort NFNL_MSG_BATCH_BEGIN = NLMSG_MIN_TYPE;
    public const ushort NFNL_MSG_BATCH_END = NLMSG_MIN_TYPE + 1;
    public const int HeaderSize = 4; // sizeof(struct nfgenmsg)

    /// <summary>Starts an nf_tables message (NFNL_SUBSYS_NFTABLES &lt;&lt; 8 | NFT_MSG_*).</summary>
    public static void Begin(ref NetlinkWriter writer, ushort nftMessage, ushort flags, NftFamily family)
    {
        writer.BeginMessage((ushort)((NFNL_SUBSYS_NFTABLES << 8) | nftMessage), (ushort)(NLM_F_REQUEST | flags));
        writer.WriteHeader(new nfgenmsg { nfgen_family = (byte)family, version = NFNETLINK_V0, res_id = 0 });
    }

    /// <summary>NFNL_MSG_BATCH_BEGIN / END: res_id carries the subsystem, family AF_UNSPEC.</summary>
    public static void BatchMarker(ref NetlinkWriter writer, ushort type)
    {
        writer.BeginMessage(type, NLM_F_REQUEST);
        writer.WriteHeader(new nfgenmsg
        {
            nfgen_family = 0,
            version = NFNETLINK_V0,
            res_id = BinaryPrimitives.ReverseEndianness(NFNL_SUBSYS_NFTABLES),
        });
    }

    /// <summary>The NFT_MSG_* of a received nf_tables message, or -1 for another subsystem.</summary>
    public static int NftMessageOf(ushort type) => (type >> 8) == NFNL_SUBSYS_NFTABLES ? type & 0xff : -1;
}
