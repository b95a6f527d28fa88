using System.Runtime.InteropServices;
using System.Text;
using Cni.Linux.Interop;
using Cni.Linux.Route;

namespace Cni.Linux.Ethtool;

/// <summary>
/// The few ethtool settings plugins need, through the SIOCETHTOOL ioctl on a datagram socket of the
/// calling thread's network namespace (as `ethtool -K`). Today: transmit checksum offload, which a vxlan
/// device must be able to turn off (the kernel bug behind flannel's 63-second connection delays).
/// </summary>
public static unsafe class Ethtool
{
    // linux/sockios.h
    private const nuint SIOCETHTOOL = 0x8946;

    // linux/ethtool.h: ETHTOOL_GTXCSUM/ETHTOOL_STXCSUM read and set every NETIF_F_CSUM_MASK feature at once.
    internal const uint ETHTOOL_GTXCSUM = 0x00000016;
    internal const uint ETHTOOL_STXCSUM = 0x00000017;

    /// <summary>struct ethtool_value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct EthtoolValue
    {
        public uint Cmd;
        public uint Data;
    }

    /// <summary>struct ifreq: the name, then a union whose member we use is the ifr_data pointer.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    private struct IfReq
    {
        public fixed byte Name[16];
        public void* Data;
    }

    /// <summary>Whether transmit checksum offload is on (`ethtool -k` tx-checksumming).</summary>
    public static bool GetTxChecksumming(string interfaceName)
    {
        var value = new EthtoolValue { Cmd = ETHTOOL_GTXCSUM };
        Call(interfaceName, ref value, "get tx checksumming");
        return value.Data != 0;
    }

    /// <summary>Turns transmit checksum offload on or off (`ethtool -K dev tx on|off`).</summary>
    public static void SetTxChecksumming(string interfaceName, bool on)
    {
        var value = new EthtoolValue { Cmd = ETHTOOL_STXCSUM, Data = on ? 1u : 0u };
        Call(interfaceName, ref value, $"set tx checksumming {(on ? "on" : "off")}");
    }

    private static void Call(string interfaceName, ref EthtoolValue value, string what)
    {
        LinkName.Validate(interfaceName);
        int fd = Libc.socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw LinuxException.FromLastError("socket for ethtool");
        }
        using var socket = new SafeFileDescriptor(fd);
        var request = new IfReq();
        Encoding.UTF8.GetBytes(interfaceName, new Span<byte>(request.Name, 15));
        fixed (EthtoolValue* data = &value)
        {
            request.Data = data;
            if (Libc.ioctl(socket, SIOCETHTOOL, &request) < 0)
            {
                throw LinuxException.FromLastError($"{what} on {interfaceName}");
            }
        }
    }
}
