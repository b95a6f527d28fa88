using System.Net;
using System.Net.Sockets;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Route;

public sealed partial class RouteSocket
{
    // Address attributes (linux/if_addr.h).
    internal const ushort IFA_ADDRESS = 1;
    internal const ushort IFA_LOCAL = 2;
    internal const ushort IFA_LABEL = 3;
    internal const ushort IFA_BROADCAST = 4;
    internal const ushort IFA_FLAGS = 8;

    public const uint IFA_F_NODAD = 0x02;
    public const uint IFA_F_PERMANENT = 0x80;
    /// <summary>No prefix route for the address's subnet (only in IFA_FLAGS: it does not fit the header's 8 bits).</summary>
    public const uint IFA_F_NOPREFIXROUTE = 0x200;

    /// <summary>
    /// Adds <paramref name="address"/>/<paramref name="prefixLength"/> to a link. For IPv4 pass
    /// <paramref name="broadcast"/> (see <see cref="BroadcastOf"/>); for IPv6 <paramref name="noDad"/>
    /// skips duplicate address detection. <paramref name="noPrefixRoute"/> keeps the kernel from adding the
    /// subnet's route through the link (IFA_F_NOPREFIXROUTE). Fails with EEXIST if the address is already there.
    /// </summary>
    public void AddAddress(int index, IPAddress address, int prefixLength, IPAddress? broadcast = null, bool noDad = false, bool noPrefixRoute = false)
    {
        var writer = new NetlinkWriter();
        try
        {
            WriteAddress(ref writer, RTM_NEWADDR, Create, index, address, prefixLength, broadcast, noDad, noPrefixRoute);
            Execute(ref writer, $"add address {address}/{prefixLength} on link #{index}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Removes an address; returns false if it was not there.</summary>
    public bool DeleteAddress(int index, IPAddress address, int prefixLength)
    {
        var writer = new NetlinkWriter();
        try
        {
            WriteAddress(ref writer, RTM_DELADDR, Change, index, address, prefixLength, null, false, false);
            return ExecuteUnlessMissing(ref writer, $"delete address {address}/{prefixLength} on link #{index}", Errno.EADDRNOTAVAIL, Errno.ENODEV);
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Addresses of one link (or all links with 0), of one family (or both with Unspecified).</summary>
    public IReadOnlyList<LinkAddress> ListAddresses(int index = 0, AddressFamily family = AddressFamily.Unspecified)
    {
        var result = new List<LinkAddress>();
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(RTM_GETADDR, DumpFlags);
            writer.WriteHeader(new IfAddrMsg { Family = FamilyByte(family), Index = index });
            _socket.Dump(ref writer, message =>
            {
                if (message.Type != RTM_NEWADDR)
                {
                    return;
                }
                IfAddrMsg header = message.ReadHeader<IfAddrMsg>();
                if ((index != 0 && header.Index != index)
                    || (family != AddressFamily.Unspecified && FamilyOf(header.Family) != family))
                {
                    return;
                }
                IPAddress? address = null, local = null, broadcast = null;
                string? label = null;
                uint flags = header.Flags;
                foreach (NetlinkAttribute a in message.Attributes(IfAddrMsg.Size))
                {
                    switch (a.Type)
                    {
                        case IFA_ADDRESS: address = a.Address; break;
                        case IFA_LOCAL: local = a.Address; break;
                        case IFA_BROADCAST: broadcast = a.Address; break;
                        case IFA_LABEL: label = a.String; break;
                        case IFA_FLAGS: flags = a.U32; break;
                    }
                }
                // For IPv4 IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point).
                IPAddress? own = local ?? address;
                if (own is not null)
                {
                    result.Add(new LinkAddress
                    {
                        LinkIndex = header.Index,
                        Address = own,
                        PrefixLength = header.PrefixLength,
                        Flags = flags,
                        Scope = (RouteScope)header.Scope,
                        Broadcast = broadcast,
                        Label = label,
                    });
                }
            }, "list addresses");
        }
        finally
        {
            writer.Dispose();
        }
        return result;
    }

    /// <summary>The IPv4 broadcast address of a network (all host bits set).</summary>
    public static IPAddress BroadcastOf(IPAddress address, int prefixLength)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork || prefixLength is < 0 or > 32)
        {
            throw new ArgumentException("broadcast exists only for IPv4 with a prefix of 0-32", nameof(address));
        }
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        uint hostMask = prefixLength == 32 ? 0u : uint.MaxValue >> prefixLength;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value | hostMask);
        return new IPAddress(bytes);
    }

    private static void WriteAddress(ref NetlinkWriter writer, ushort type, ushort flags, int index, IPAddress address,
        int prefixLength, IPAddress? broadcast, bool noDad, bool noPrefixRoute)
    {
        ArgumentNullException.ThrowIfNull(address);
        int max = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        if (prefixLength < 0 || prefixLength > max)
        {
            throw new ArgumentOutOfRangeException(nameof(prefixLength), $"prefix length must be 0-{max}");
        }
        uint addressFlags = (noDad ? IFA_F_NODAD : 0) | (noPrefixRoute ? IFA_F_NOPREFIXROUTE : 0);
        writer.BeginMessage(type, flags);
        writer.WriteHeader(new IfAddrMsg
        {
            Family = (byte)NetlinkWriter.FamilyOf(address),
            PrefixLength = (byte)prefixLength,
            Flags = (byte)(addressFlags & 0xFF),
            Index = index,
        });
        writer.AttributeAddress(IFA_LOCAL, address);
        writer.AttributeAddress(IFA_ADDRESS, address);
        if (broadcast is not null)
        {
            writer.AttributeAddress(IFA_BROADCAST, broadcast);
        }
        if (addressFlags != 0)
        {
            writer.AttributeU32(IFA_FLAGS, addressFlags);
        }
    }
}
