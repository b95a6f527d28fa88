using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Netfilter;

/// <summary>struct nfgenmsg (linux/netfilter/nfnetlink.h), the family header of every nfnetlink message.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NfGenMsg
{
    public byte Family;        // nfgen_family
    public byte Version;       // NFNETLINK_V0
    public ushort ResourceId;  // res_id, big-endian
    public const int Size = 4;
}

/// <summary>
/// Conntrack table of one namespace over NETLINK_NETFILTER (ctnetlink). Used to drop stale
/// flows after port mappings change, as the reference portmap plugin does.
/// </summary>
public sealed class Conntrack : IDisposable
{
    // nfnetlink subsystems and ctnetlink messages (linux/netfilter/nfnetlink*.h).
    internal const byte NFNL_SUBSYS_CTNETLINK = 1;
    internal const byte IPCTNL_MSG_CT_NEW = 0;
    internal const byte IPCTNL_MSG_CT_GET = 1;
    internal const byte IPCTNL_MSG_CT_DELETE = 2;

    // enum ctattr_type / ctattr_tuple / ctattr_ip / ctattr_l4proto.
    internal const ushort CTA_TUPLE_ORIG = 1;
    internal const ushort CTA_ZONE = 18;
    internal const ushort CTA_TUPLE_IP = 1;
    internal const ushort CTA_TUPLE_PROTO = 2;
    internal const ushort CTA_IP_V4_DST = 2;
    internal const ushort CTA_IP_V6_DST = 4;
    internal const ushort CTA_PROTO_NUM = 1;
    internal const ushort CTA_PROTO_DST_PORT = 3;

    private readonly NetlinkSocket _socket;

    public Conntrack(NetlinkSocket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.Protocol != NetlinkProtocol.Netfilter)
        {
            throw new ArgumentException("a NETLINK_NETFILTER socket is required", nameof(socket));
        }
        _socket = socket;
    }

    public static Conntrack Open() => new(NetlinkSocket.Open(NetlinkProtocol.Netfilter));

    public static Conntrack OpenIn(NetNs ns) => new(NetlinkSocket.OpenIn(ns, NetlinkProtocol.Netfilter));

    public void Dispose() => _socket.Dispose();

    internal static ushort MessageType(byte message) => (ushort)((NFNL_SUBSYS_CTNETLINK << 8) | message);

    /// <summary>
    /// Deletes every entry whose original tuple has L4 protocol <paramref name="protocol"/>,
    /// destination <paramref name="destination"/> and destination port <paramref name="port"/>.
    /// The kernel cannot delete by a partial tuple, so the table is dumped, filtered here, and each
    /// match deleted by its full original tuple in one batch. Returns how many entries matched.
    /// </summary>
    public int DeleteByDestination(ProtocolType protocol, IPAddress destination, ushort port)
    {
        ArgumentNullException.ThrowIfNull(destination);
        byte family = (byte)NetlinkWriter.FamilyOf(destination);
        var matches = new List<(byte[] Tuple, byte[]? Zone)>();

        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(MessageType(IPCTNL_MSG_CT_GET), NLM_F_REQUEST | NLM_F_DUMP);
            writer.WriteHeader(new NfGenMsg { Family = family });
            _socket.Dump(ref writer, message =>
            {
                if (message.Type != MessageType(IPCTNL_MSG_CT_NEW))
                {
                    return;
                }
                byte[]? tuple = null, zone = null;
                foreach (NetlinkAttribute attribute in message.Attributes(NfGenMsg.Size))
                {
                    if (attribute.Type == CTA_TUPLE_ORIG && Matches(attribute.Nested, (byte)protocol, destination, port))
                    {
                        tuple = attribute.Value.ToArray();
                    }
                    else if (attribute.Type == CTA_ZONE)
                    {
                        zone = attribute.Value.ToArray();
                    }
                }
                if (tuple is not null)
                {
                    matches.Add((tuple, zone));
                }
            }, "dump conntrack");

            if (matches.Count == 0)
            {
                return 0;
            }

            writer.Reset();
            foreach ((byte[] tuple, byte[]? zone) in matches)
            {
                writer.BeginMessage(MessageType(IPCTNL_MSG_CT_DELETE), NLM_F_REQUEST | NLM_F_ACK);
                writer.WriteHeader(new NfGenMsg { Family = family });
                writer.Attribute(CTA_TUPLE_ORIG | NLA_F_NESTED, tuple);
                if (zone is not null)
                {
                    writer.Attribute(CTA_ZONE, zone);
                }
            }
            if (!_socket.TryRequest(ref writer, out NetlinkException? error, null, "delete conntrack entries")
                && error!.Errno != Errno.ENOENT) // an entry may expire between dump and delete
            {
                throw error;
            }
            return matches.Count;
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static bool Matches(NetlinkAttributeReader tuple, byte protocol, IPAddress destination, ushort port)
    {
        bool addressMatches = false, protocolMatches = false, portMatches = false;
        Span<byte> wanted = stackalloc byte[16];
        destination.TryWriteBytes(wanted, out int length);
        wanted = wanted.Slice(0, length);
        foreach (NetlinkAttribute part in tuple)
        {
            if (part.Type == CTA_TUPLE_IP)
            {
                foreach (NetlinkAttribute ip in part.Nested)
                {
                    if ((ip.Type == CTA_IP_V4_DST || ip.Type == CTA_IP_V6_DST) && ip.Value.SequenceEqual(wanted))
                    {
                        addressMatches = true;
                    }
                }
            }
            else if (part.Type == CTA_TUPLE_PROTO)
            {
                foreach (NetlinkAttribute l4 in part.Nested)
                {
                    if (l4.Type == CTA_PROTO_NUM && l4.U8 == protocol)
                    {
                        protocolMatches = true;
                    }
                    else if (l4.Type == CTA_PROTO_DST_PORT && l4.U16BigEndian == port)
                    {
                        portMatches = true;
                    }
                }
            }
        }
        return addressMatches && protocolMatches && portMatches;
    }
}
