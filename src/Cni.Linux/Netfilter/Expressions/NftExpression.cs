using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>
/// One expression of a rule: its kernel name (NFTA_EXPR_NAME) and its attributes (NFTA_EXPR_DATA).
/// Each family lives in its own file under its kernel name; expressions read back from the kernel
/// that this library does not model come back as <see cref="NftUnknownExpression"/>.
/// </summary>
public abstract record NftExpression
{
    /// <summary>The kernel's name of the expression type ("payload", "cmp", ...).</summary>
    public abstract string Kind { get; }

    /// <summary>Writes the attributes inside NFTA_EXPR_DATA.</summary>
    internal abstract void WriteData(ref NetlinkWriter writer);

    internal void Write(ref NetlinkWriter writer)
    {
        using var element = writer.Nest(NfTables.NFTA_LIST_ELEM);
        writer.AttributeString(NfTables.NFTA_EXPR_NAME, Kind);
        using var data = writer.Nest(NfTables.NFTA_EXPR_DATA);
        WriteData(ref writer);
    }

    internal static NftExpression ReadExpression(NetlinkAttributeReader attributes)
    {
        string name = "";
        NetlinkAttributeReader data = default;
        byte[] raw = [];
        foreach (NetlinkAttribute a in attributes)
        {
            if (a.Type == NfTables.NFTA_EXPR_NAME)
            {
                name = a.String;
            }
            else if (a.Type == NfTables.NFTA_EXPR_DATA)
            {
                data = a.Nested;
                raw = a.Value.ToArray();
            }
        }
        return name switch
        {
            NftPayload.Name => NftPayload.Read(data),
            NftMeta.Name => NftMeta.Read(data),
            NftCmp.Name => NftCmp.Read(data),
            NftBitwise.Name => NftBitwise.Read(data),
            NftLookup.Name => NftLookup.Read(data),
            NftImmediate.Name => NftImmediate.Read(data),
            NftFib.Name => NftFib.Read(data),
            NftCt.Name => NftCt.Read(data),
            NftCounter.Name => NftCounter.Read(data),
            NftMasquerade.Name => NftMasquerade.Read(data),
            NftNat.Name => NftNat.Read(data),
            NftMatch.Name => NftMatch.Read(data),
            _ => new NftUnknownExpression(name, raw),
        };
    }
}

/// <summary>An expression read from the kernel that this library does not model; kept as raw attributes.</summary>
public sealed record NftUnknownExpression(string Name, byte[] Data) : NftExpression
{
    public override string Kind => Name;

    internal override void WriteData(ref NetlinkWriter writer) => Data.CopyTo(writer.Reserve(Data.Length));

    public override string ToString() => Name + " " + NftData.Hex(Data);
}
