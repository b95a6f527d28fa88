using System.Runtime.InteropServices;

namespace Cni.Linux.Route;

/// <summary>struct ifinfomsg (linux/rtnetlink.h), 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IfInfoMsg
{
    public byte Family;     // ifi_family
    public byte Pad;
    public ushort Type;     // ifi_type (ARPHRD_*)
    public int Index;       // ifi_index
    public uint Flags;      // ifi_flags (IFF_*)
    public uint Change;     // ifi_change: which flags to change
    public const int Size = 16;
}

/// <summary>struct ifaddrmsg (linux/if_addr.h), 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IfAddrMsg
{
    public byte Family;       // ifa_family
    public byte PrefixLength; // ifa_prefixlen
    public byte Flags;        // ifa_flags (IFA_F_*, low 8 bits)
    public byte Scope;        // ifa_scope
    public int Index;         // ifa_index
    public const int Size = 8;
}

/// <summary>struct rtmsg (linux/rtnetlink.h), 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RtMsg
{
    public byte Family;            // rtm_family
    public byte DestinationLength; // rtm_dst_len
    public byte SourceLength;      // rtm_src_len
    public byte Tos;               // rtm_tos
    public byte Table;             // rtm_table
    public byte Protocol;          // rtm_protocol
    public byte Scope;             // rtm_scope
    public byte Type;              // rtm_type
    public uint Flags;             // rtm_flags
    public const int Size = 12;
}

/// <summary>struct ndmsg (linux/neighbour.h), 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NdMsg
{
    public byte Family;  // ndm_family
    public byte Pad1;
    public ushort Pad2;
    public int Index;    // ndm_ifindex
    public ushort State; // ndm_state (NUD_*)
    public byte Flags;   // ndm_flags (NTF_*)
    public byte Type;    // ndm_type
    public const int Size = 12;
}
