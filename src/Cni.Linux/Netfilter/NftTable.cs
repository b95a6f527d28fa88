using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>An nf_tables table (enum nft_table_attributes).</summary>
public sealed record NftTable(NftFamily Family, string Name)
{
    internal const ushort NFTA_TABLE_NAME = 1;
    internal const ushort NFTA_TABLE_FLAGS = 2;
    internal const ushort NFTA_TABLE_USE = 3;
    internal const ushort NFTA_TABLE_HANDLE = 4;
    internal const ushort NFTA_TABLE_USERDATA = 6;

    public ulong Handle { get; init; }

    public string? Comment { get; init; }

    internal void Write(ref NetlinkWriter writer)
    {
        writer.AttributeString(NFTA_TABLE_NAME, Name);
        writer.AttributeU32BigEndian(NFTA_TABLE_FLAGS, 0);
        if (Comment is not null)
        {
            writer.Attribute(NFTA_TABLE_USERDATA, NftUserData.Comment(Comment, NftUserData.NFTNL_UDATA_TABLE_COMMENT));
        }
    }

    internal static NftTable Read(NetlinkMessage message)
    {
        var family = (NftFamily)message.Payload[0];
        string name = "";
        ulong handle = 0;
        string? comment = null;
        foreach (NetlinkAttribute a in message.Attributes(Nfnetlink.HeaderSize))
        {
            switch (a.Type)
            {
                case NFTA_TABLE_NAME: name = a.String; break;
                case NFTA_TABLE_HANDLE: handle = a.U64BigEndian; break;
                case NFTA_TABLE_USERDATA: comment = NftUserData.ReadComment(a.Value, NftUserData.NFTNL_UDATA_TABLE_COMMENT); break;
            }
        }
        return new NftTable(family, name) { Handle = handle, Comment = comment };
    }
}
