using Cni.Linux.Netlink;

namespace Cni.Linux.Netfilter;

/// <summary>"counter": counts packets and bytes that reach it.</summary>
public sealed record NftCounter(ulong Bytes = 0, ulong Packets = 0) : NftExpression
{
    public const string Name = "counter";

    internal const ushort NFTA_COUNTER_BYTES = 1;
    internal const ushort NFTA_COUNTER_PACKETS = 2;

    public override string Kind => Name;

    internal override void WriteData(ref NetlinkWriter writer)
    {
        if (Bytes == 0 && Packets == 0)
        {
            return; // a fresh counter: nft sends no attributes
        }
        writer.AttributeU64BigEndian(NFTA_COUNTER_BYTES, Bytes);
        writer.AttributeU64BigEndian(NFTA_COUNTER_PACKETS, Packets);
    }

    internal static NftCounter Read(NetlinkAttributeReader attributes)
    {
        ulong bytes = 0, packets = 0;
        foreach (NetlinkAttribute a in attributes)
        {
            if (a.Type == NFTA_COUNTER_BYTES)
            {
                bytes = a.U64BigEndian;
            }
            else if (a.Type == NFTA_COUNTER_PACKETS)
            {
                packets = a.U64BigEndian;
            }
        }
        return new NftCounter(bytes, packets);
    }

    public override string ToString() => $"counter pkts {Packets} bytes {Bytes}";
}
