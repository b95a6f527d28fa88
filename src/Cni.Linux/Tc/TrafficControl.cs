using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Tc;

/// <summary>A token bucket filter's settings as the kernel takes them: bytes per second, queue limit in bytes, bucket in ticks.</summary>
public readonly record struct TbfParameters(ulong RateBytesPerSecond, uint LimitBytes, uint BufferTicks);

/// <summary>A qdisc as the kernel lists it; <see cref="Tbf"/> is set for a token bucket filter.</summary>
public sealed record Qdisc(int IfIndex, uint Handle, uint Parent, string Kind, TbfParameters? Tbf);

/// <summary>A filter as the kernel lists it (kind and where it hangs); the u32 ones carry their mirred redirection target.</summary>
public sealed record TcFilter(int IfIndex, uint Handle, uint Parent, ushort Priority, ushort Protocol, string Kind, int? RedirectIfIndex);

/// <summary>
/// The rtnetlink traffic-control messages the bandwidth plugin needs, encoded as iproute2's <c>tc</c> encodes
/// them (nested attributes without NLA_F_NESTED, as the kernel's tc parsers expect of old): a TBF qdisc, the
/// ingress qdisc, a u32 match-all filter whose mirred action redirects to another device, their deletion, and
/// the parsing of dumps. Constants carry the kernel's names (linux/rtnetlink.h, pkt_sched.h, pkt_cls.h,
/// tc_act/tc_mirred.h). Pure: writes into a <see cref="NetlinkWriter"/>; <c>RouteSocket</c> sends.
/// </summary>
public static class TrafficControl
{
    // rtnetlink message types.
    public const ushort RTM_NEWQDISC = 36;
    public const ushort RTM_DELQDISC = 37;
    public const ushort RTM_GETQDISC = 38;
    public const ushort RTM_NEWTFILTER = 44;
    public const ushort RTM_DELTFILTER = 45;
    public const ushort RTM_GETTFILTER = 46;

    // enum TCA_* (rtnetlink.h).
    public const ushort TCA_KIND = 1;
    public const ushort TCA_OPTIONS = 2;

    // Handles (pkt_sched.h).
    public const uint TC_H_ROOT = 0xFFFFFFFF;
    public const uint TC_H_INGRESS = 0xFFFFFFF1;
    public static uint MakeHandle(ushort major, ushort minor) => ((uint)major << 16) | minor;
    /// <summary>The ingress qdisc's handle, ffff:.</summary>
    public static readonly uint IngressHandle = MakeHandle(0xFFFF, 0);

    // TBF (pkt_sched.h).
    public const ushort TCA_TBF_PARMS = 1;
    public const ushort TCA_TBF_RTAB = 2;
    public const ushort TCA_TBF_PTAB = 3;
    public const ushort TCA_TBF_RATE64 = 4;
    public const ushort TCA_TBF_PRATE64 = 5;
    public const ushort TCA_TBF_BURST = 6;
    public const ushort TCA_TBF_PBURST = 7;

    // u32 (pkt_cls.h).
    public const ushort TCA_U32_CLASSID = 1;
    public const ushort TCA_U32_SEL = 5;
    public const ushort TCA_U32_ACT = 7;
    public const byte TC_U32_TERMINAL = 1;

    // Actions (pkt_cls.h, tc_act/tc_mirred.h).
    public const ushort TCA_ACT_KIND = 1;
    public const ushort TCA_ACT_OPTIONS = 2;
    public const ushort TCA_MIRRED_PARMS = 2;
    public const int TCA_EGRESS_REDIR = 1;
    public const int TC_ACT_STOLEN = 4;

    /// <summary>ETH_P_ALL (if_ether.h): every protocol.</summary>
    public const ushort ETH_P_ALL = 0x0003;

    private const ushort CreateFlags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;

    /// <summary><c>tc qdisc add dev IFINDEX parent PARENT handle HANDLE tbf rate … limit … buffer …</c></summary>
    public static void WriteAddTbf(ref NetlinkWriter writer, int ifIndex, uint parent, uint handle, TbfParameters tbf)
    {
        writer.BeginMessage(RTM_NEWQDISC, CreateFlags);
        writer.WriteHeader(new TcMsg { Index = ifIndex, Handle = handle, Parent = parent });
        writer.AttributeString(TCA_KIND, "tbf");
        using (writer.Nest(TCA_OPTIONS, setNestedFlag: false))
        {
            var qopt = new TcTbfQopt
            {
                Rate = new TcRateSpec { Rate = (uint)Math.Min(tbf.RateBytesPerSecond, uint.MaxValue) },
                Limit = tbf.LimitBytes,
                Buffer = tbf.BufferTicks,
            };
            writer.Attribute(TCA_TBF_PARMS, MemoryMarshal.AsBytes(new ReadOnlySpan<TcTbfQopt>(in qopt)));
            if (tbf.RateBytesPerSecond >= 1UL << 32)
            {
                writer.AttributeU64(TCA_TBF_RATE64, tbf.RateBytesPerSecond);
            }
        }
        writer.EndMessage();
    }

    /// <summary><c>tc qdisc add dev IFINDEX ingress</c> (handle ffff:, parent ingress).</summary>
    public static void WriteAddIngress(ref NetlinkWriter writer, int ifIndex)
    {
        writer.BeginMessage(RTM_NEWQDISC, CreateFlags);
        writer.WriteHeader(new TcMsg { Index = ifIndex, Handle = IngressHandle, Parent = TC_H_INGRESS });
        writer.AttributeString(TCA_KIND, "ingress");
        writer.Attribute(TCA_OPTIONS, ReadOnlySpan<byte>.Empty);
        writer.EndMessage();
    }

    /// <summary>
    /// <c>tc filter add dev IFINDEX parent PARENT protocol all prio PRIORITY u32 match u32 0 0 flowid CLASSID
    /// action mirred egress redirect dev TARGET</c>: every packet is handed to <paramref name="targetIfIndex"/>'s
    /// egress and stolen from this device.
    /// </summary>
    public static void WriteAddRedirect(ref NetlinkWriter writer, int ifIndex, uint parent, ushort priority, uint classId, int targetIfIndex)
    {
        writer.BeginMessage(RTM_NEWTFILTER, CreateFlags);
        writer.WriteHeader(new TcMsg
        {
            Index = ifIndex,
            Parent = parent,
            Info = ((uint)priority << 16) | BinaryPrimitives.ReverseEndianness(ETH_P_ALL),
        });
        writer.AttributeString(TCA_KIND, "u32");
        using (writer.Nest(TCA_OPTIONS, setNestedFlag: false))
        {
            // One all-zero key (mask 0 matches anything), terminal: match everything.
            Span<byte> sel = stackalloc byte[TcU32Sel.Size + TcU32Key.Size];
            sel.Clear();
            var header = new TcU32Sel { Flags = TC_U32_TERMINAL, KeyCount = 1 };
            MemoryMarshal.Write(sel, in header);
            writer.Attribute(TCA_U32_SEL, sel);
            writer.AttributeU32(TCA_U32_CLASSID, classId);
            using (writer.Nest(TCA_U32_ACT, setNestedFlag: false))
            {
                using (writer.Nest(1, setNestedFlag: false)) // the first action (TCA_ACT_TAB's order)
                {
                    writer.AttributeString(TCA_ACT_KIND, "mirred");
                    using (writer.Nest(TCA_ACT_OPTIONS, setNestedFlag: false))
                    {
                        var mirred = new TcMirred { Action = TC_ACT_STOLEN, EAction = TCA_EGRESS_REDIR, IfIndex = (uint)targetIfIndex };
                        writer.Attribute(TCA_MIRRED_PARMS, MemoryMarshal.AsBytes(new ReadOnlySpan<TcMirred>(in mirred)));
                    }
                }
            }
        }
        writer.EndMessage();
    }

    /// <summary><c>tc qdisc del dev IFINDEX parent PARENT</c> (the root or the ingress qdisc).</summary>
    public static void WriteDeleteQdisc(ref NetlinkWriter writer, int ifIndex, uint parent, uint handle)
    {
        writer.BeginMessage(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK);
        writer.WriteHeader(new TcMsg { Index = ifIndex, Parent = parent, Handle = handle });
        writer.EndMessage();
    }

    /// <summary>A dump of one device's qdiscs (the socket's strict checking makes the kernel filter by ifindex).</summary>
    public static void WriteListQdiscs(ref NetlinkWriter writer, int ifIndex)
    {
        writer.BeginMessage(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP);
        writer.WriteHeader(new TcMsg { Index = ifIndex });
        writer.EndMessage();
    }

    /// <summary>A dump of the filters under <paramref name="parent"/> of one device.</summary>
    public static void WriteListFilters(ref NetlinkWriter writer, int ifIndex, uint parent)
    {
        writer.BeginMessage(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP);
        writer.WriteHeader(new TcMsg { Index = ifIndex, Parent = parent });
        writer.EndMessage();
    }

    /// <summary>Reads an RTM_NEWQDISC message.</summary>
    public static Qdisc ParseQdisc(NetlinkMessage message)
    {
        TcMsg header = message.ReadHeader<TcMsg>();
        string kind = "";
        TbfParameters? tbf = null;
        foreach (NetlinkAttribute a in message.Attributes(TcMsg.Size))
        {
            switch (a.Type)
            {
                case TCA_KIND: kind = a.String; break;
                case TCA_OPTIONS when kind == "tbf": tbf = ParseTbf(a.Nested); break;
            }
        }
        return new Qdisc(header.Index, header.Handle, header.Parent, kind, tbf);
    }

    private static TbfParameters? ParseTbf(NetlinkAttributeReader options)
    {
        TcTbfQopt? qopt = null;
        ulong? rate64 = null;
        foreach (NetlinkAttribute a in options)
        {
            if (a.Type == TCA_TBF_PARMS && a.Value.Length >= TcTbfQopt.Size) qopt = MemoryMarshal.Read<TcTbfQopt>(a.Value);
            else if (a.Type == TCA_TBF_RATE64 && a.Value.Length >= 8) rate64 = a.U64;
        }
        if (qopt is not { } q) return null;
        return new TbfParameters(rate64 ?? q.Rate.Rate, q.Limit, q.Buffer);
    }

    /// <summary>Reads an RTM_NEWTFILTER message (the redirection target of a u32 filter's first mirred action).</summary>
    public static TcFilter ParseFilter(NetlinkMessage message)
    {
        TcMsg header = message.ReadHeader<TcMsg>();
        string kind = "";
        int? redirect = null;
        foreach (NetlinkAttribute a in message.Attributes(TcMsg.Size))
        {
            switch (a.Type)
            {
                case TCA_KIND: kind = a.String; break;
                case TCA_OPTIONS when kind == "u32":
                    foreach (NetlinkAttribute o in a.Nested)
                    {
                        if (o.Type != TCA_U32_ACT) continue;
                        foreach (NetlinkAttribute action in o.Nested)
                        {
                            redirect ??= MirredTarget(action.Nested);
                        }
                    }
                    break;
            }
        }
        return new TcFilter(header.Index, header.Handle, header.Parent, (ushort)(header.Info >> 16),
            BinaryPrimitives.ReverseEndianness((ushort)header.Info), kind, redirect);
    }

    private static int? MirredTarget(NetlinkAttributeReader action)
    {
        bool mirred = false;
        foreach (NetlinkAttribute a in action)
        {
            if (a.Type == TCA_ACT_KIND) mirred = a.String == "mirred";
            else if (a.Type == TCA_ACT_OPTIONS && mirred)
            {
                foreach (NetlinkAttribute p in a.Nested)
                {
                    if (p.Type == TCA_MIRRED_PARMS && p.Value.Length >= TcMirred.Size)
                    {
                        TcMirred m = MemoryMarshal.Read<TcMirred>(p.Value);
                        if (m.EAction == TCA_EGRESS_REDIR) return (int)m.IfIndex;
                    }
                }
            }
        }
        return null;
    }
}
