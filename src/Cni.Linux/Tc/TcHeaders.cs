using System.Runtime.InteropServices;

namespace Cni.Linux.Tc;

/// <summary>struct tcmsg (linux/rtnetlink.h), 20 bytes: the family header of qdisc, class and filter messages.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcMsg
{
    public byte Family;   // tcm_family (AF_UNSPEC)
    public byte Pad1;
    public ushort Pad2;
    public int Index;     // tcm_ifindex
    public uint Handle;   // tcm_handle
    public uint Parent;   // tcm_parent
    public uint Info;     // tcm_info: for filters, priority << 16 | protocol (network order)
    public const int Size = 20;
}

/// <summary>struct tc_ratespec (linux/pkt_sched.h), 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcRateSpec
{
    public byte CellLog;     // cell_log
    public byte LinkLayer;   // linklayer (TC_LINKLAYER_UNAWARE = 0)
    public ushort Overhead;  // overhead
    public short CellAlign;  // cell_align
    public ushort Mpu;       // mpu
    public uint Rate;        // rate, bytes per second (low 32 bits; TCA_TBF_RATE64 carries more)
    public const int Size = 12;
}

/// <summary>struct tc_tbf_qopt (linux/pkt_sched.h), 36 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcTbfQopt
{
    public TcRateSpec Rate;
    public TcRateSpec PeakRate;
    public uint Limit;    // bytes that may wait in the queue
    public uint Buffer;   // bucket size, in scheduler ticks
    public uint Mtu;      // peak-rate bucket, in ticks (unused without a peak rate)
    public const int Size = 36;
}

/// <summary>struct tc_u32_key (linux/pkt_cls.h), 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcU32Key
{
    public uint Mask;     // __be32
    public uint Value;    // __be32
    public int Offset;
    public int OffsetMask;
    public const int Size = 16;
}

/// <summary>struct tc_u32_sel (linux/pkt_cls.h) without its keys, 16 bytes; <c>nkeys</c> keys follow it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcU32Sel
{
    public byte Flags;        // TC_U32_*
    public byte OffShift;
    public byte KeyCount;     // nkeys
    public byte Pad;
    public ushort OffMask;    // __be16
    public ushort Off;
    public short OffOff;
    public short HOff;
    public uint HMask;        // __be32
    public const int Size = 16;
}

/// <summary>struct tc_mirred (linux/tc_act/tc_mirred.h): tc_gen (index, capab, action, refcnt, bindcnt) then eaction and ifindex, 28 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcMirred
{
    public uint Index;
    public uint Capab;
    public int Action;     // TC_ACT_*: what happens to the packet after the action
    public int RefCount;
    public int BindCount;
    public int EAction;    // TCA_EGRESS_REDIR, ...
    public uint IfIndex;   // where the packet goes
    public const int Size = 28;
}
