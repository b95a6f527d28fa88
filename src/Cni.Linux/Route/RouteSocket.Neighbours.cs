using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Route;

public sealed partial class RouteSocket
{
    // Neighbour attributes and values (linux/neighbour.h).
    internal const ushort NDA_DST = 1;
    internal const ushort NDA_LLADDR = 2;
    internal const ushort NDA_VNI = 7;
    internal const ushort NDA_MASTER = 9;

    public const ushort NUD_PERMANENT = 0x80;
    public const ushort NUD_NOARP = 0x40;
    public const byte NTF_SELF = 0x02;
    public const byte NTF_MASTER = 0x04;

    /// <summary>Adds or replaces a permanent ARP (IPv4) or NDP (IPv6) entry.</summary>
    public void SetNeighbour(int index, IPAddress address, PhysicalAddress hardwareAddress)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(hardwareAddress);
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
            writer.WriteHeader(new NdMsg { Family = (byte)NetlinkWriter.FamilyOf(address), Index = index, State = NUD_PERMANENT });
            writer.AttributeAddress(NDA_DST, address);
            WriteMac(ref writer, NDA_LLADDR, hardwareAddress);
            Execute(ref writer, $"set neighbour {address} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Deletes an ARP/NDP entry; returns false if there was none.</summary>
    public bool DeleteNeighbour(int index, IPAddress address)
    {
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_DELNEIGH, Change);
            writer.WriteHeader(new NdMsg { Family = (byte)NetlinkWriter.FamilyOf(address), Index = index });
            writer.AttributeAddress(NDA_DST, address);
            return ExecuteUnlessMissing(ref writer, $"delete neighbour {address} on link #{index}", Errno.ENOENT, Errno.ENODEV);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>ARP/NDP entries of one link (0: all), one family (Unspecified: both).</summary>
    public IReadOnlyList<Neighbour> ListNeighbours(int index = 0, AddressFamily family = AddressFamily.Unspecified)
    {
        var all = DumpNeighbours((byte)FamilyByte(family), index);
        return all.FindAll(n => n.Family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6);
    }

    /// <summary>
    /// Adds a permanent bridge FDB entry on a link with NTF_SELF (the device's own table, as
    /// `bridge fdb add ... self`). For vxlan pass <paramref name="remote"/> (NDA_DST); the all-zero
    /// MAC with <paramref name="append"/> adds head-end replication targets.
    /// </summary>
    public void AddFdbEntry(int index, PhysicalAddress hardwareAddress, IPAddress? remote = null, bool append = false)
    {
        ArgumentNullException.ThrowIfNull(hardwareAddress);
        var writer = new NetlinkWriter();
        try
        {
            ushort flags = (ushort)(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_REPLACE));
            WriteFdb(ref writer, RTM_NEWNEIGH, flags, index, hardwareAddress, remote);
            Execute(ref writer, $"add fdb {hardwareAddress} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Deletes a bridge FDB entry (with its remote for vxlan); returns false if there was none.</summary>
    public bool DeleteFdbEntry(int index, PhysicalAddress hardwareAddress, IPAddress? remote = null)
    {
        ArgumentNullException.ThrowIfNull(hardwareAddress);
        var writer = new NetlinkWriter();
        try
        {
            WriteFdb(ref writer, RTM_DELNEIGH, Change, index, hardwareAddress, remote);
            return ExecuteUnlessMissing(ref writer, $"delete fdb {hardwareAddress} on link #{index}", Errno.ENOENT, Errno.ENODEV);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Bridge FDB entries (AF_BRIDGE) of one link (0: all).</summary>
    public IReadOnlyList<Neighbour> ListFdbEntries(int index = 0) => DumpNeighbours(Libc.AF_BRIDGE, index);

    private static void WriteFdb(ref NetlinkWriter writer, ushort type, ushort flags, int index, PhysicalAddress mac, IPAddress? remote)
    {
        writer.BeginMessage(type, flags);
        writer.WriteHeader(new NdMsg { Family = Libc.AF_BRIDGE, Index = index, State = NUD_PERMANENT, Flags = NTF_SELF });
        WriteMac(ref writer, NDA_LLADDR, mac);
        if (remote is not null)
        {
            writer.AttributeAddress(NDA_DST, remote);
        }
    }

    private List<Neighbour> DumpNeighbours(byte family, int index)
    {
        var result = new List<Neighbour>();
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETNEIGH, DumpFlags);
            writer.WriteHeader(new NdMsg { Family = family });
            _socket.Dump(ref writer, message =>
            {
                if (message.Type != RTM_NEWNEIGH)
                {
                    return;
                }
                NdMsg header = message.ReadHeader<NdMsg>();
                if ((index != 0 && header.Index != index) || (family != Libc.AF_UNSPEC && header.Family != family))
                {
                    return;
                }
                IPAddress? address = null;
                PhysicalAddress? mac = null;
                uint? vni = null;
                int? master = null;
                foreach (NetlinkAttribute a in message.Attributes(NdMsg.Size))
                {
                    switch (a.Type)
                    {
                        case NDA_DST: address = a.Address; break;
                        case NDA_LLADDR: mac = new PhysicalAddress(a.Value.ToArray()); break;
                        case NDA_VNI: vni = a.U32; break;
                        case NDA_MASTER: master = a.S32; break;
                    }
                }
                result.Add(new Neighbour
                {
                    LinkIndex = header.Index,
                    Family = header.Family == Libc.AF_BRIDGE ? AddressFamily.Unknown : FamilyOf(header.Family),
                    Address = address,
                    HardwareAddress = mac,
                    State = header.State,
                    Flags = header.Flags,
                    Vni = vni,
                    MasterIndex = master,
                });
            }, "list neighbours");
        }
        finally
        {
            writer.Dispose();
        }
        return result;
    }
}
