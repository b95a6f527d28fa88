using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// An nf_tables rule (enum nft_rule_attributes): its expressions in order, and userdata where nft
/// keeps the comment. <see cref="Handle"/> is set on rules read back from the kernel;
/// <see cref="Position"/> places a new rule next to the rule with that handle.
/// </summary>
public sealed record NftRule(NftFamily Family, string Table, string Chain, IReadOnlyList<NftExpression> Expressions)
{
    internal const ushort NFTA_RULE_TABLE = 1;
    internal const ushort NFTA_RULE_CHAIN = 2;
    internal const ushort NFTA_RULE_HANDLE = 3;
    internal const ushort NFTA_RULE_EXPRESSIONS = 4;
    internal const ushort NFTA_RULE_POSITION = 6;
    internal const ushort NFTA_RULE_USERDATA = 7;

    public ulong Handle { get; init; }

    /// <summary>Handle of the rule to add after (or, for an insert, before).</summary>
    public ulong? Position { get; init; }

    /// <summary>Raw NFTA_RULE_USERDATA (TLVs). Use <see cref="Comment"/> for the usual case.</summary>
    public byte[]? UserData { get; init; }

    /// <summary>The comment `nft list` prints, kept in <see cref="UserData"/> as NFTNL_UDATA_RULE_COMMENT.</summary>
    public string? Comment
    {
        get => UserData is null ? null : NftUserData.ReadComment(UserData, NftUserData.NFTNL_UDATA_RULE_COMMENT);
        init => UserData = value is null ? null : NftUserData.Comment(value, NftUserData.NFTNL_UDATA_RULE_COMMENT);
    }

    internal void Write(ref NetlinkWriter writer)
    {
        writer.AttributeString(NFTA_RULE_TABLE, Table);
        writer.AttributeString(NFTA_RULE_CHAIN, Chain);
        if (Position is ulong position)
        {
            writer.AttributeU64BigEndian(NFTA_RULE_POSITION, position);
        }
        using (writer.Nest(NFTA_RULE_EXPRESSIONS))
        {
            foreach (NftExpression expression in Expressions)
            {
                expression.Write(ref writer);
            }
        }
        if (UserData is not null)
        {
            writer.Attribute(NFTA_RULE_USERDATA, UserData);
        }
    }

    internal static NftRule Read(NetlinkMessage message)
    {
        var family = (NftFamily)message.Payload[0];
        string table = "", chain = "";
        ulong handle = 0;
        byte[]? userData = null;
        var expressions = new List<NftExpression>();
        foreach (NetlinkAttribute a in message.Attributes(Nfnetlink.HeaderSize))
        {
            switch (a.Type)
            {
                case NFTA_RULE_TABLE: table = a.String; break;
                case NFTA_RULE_CHAIN: chain = a.String; break;
                case NFTA_RULE_HANDLE: handle = a.U64BigEndian; break;
                case NFTA_RULE_USERDATA: userData = a.Value.ToArray(); break;
                case NFTA_RULE_EXPRESSIONS:
                    foreach (NetlinkAttribute e in a.Nested)
                    {
                        if (e.Type == NfTables.NFTA_LIST_ELEM)
                        {
                            expressions.Add(NftExpression.ReadExpression(e.Nested));
                        }
                    }
                    break;
            }
        }
        return new NftRule(family, table, chain, expressions) { Handle = handle, UserData = userData };
    }

    /// <summary>nft-like text of the expressions (for messages and tests), e.g. "[ meta load nfproto => reg 1 ] ...".</summary>
    public override string ToString() => string.Join(" ", Expressions.Select(e => "[ " + e + " ]"));
}
