using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The VTEP's MAC when the config gives none: a function of the VNI and the local underlay address only, so a
/// re-created device (or a rebooted host) keeps the MAC its peers and their neighbours already know.
/// </summary>
public static class VtepAddress
{
    /// <summary>
    /// The first six bytes of SHA-256("sharpcni-vxlan" NUL, VNI big-endian, address bytes), made a locally
    /// administered unicast address.
    /// </summary>
    public static HardwareAddress Derive(uint vni, IPAddress local)
    {
        ArgumentNullException.ThrowIfNull(local);
        ReadOnlySpan<byte> label = "sharpcni-vxlan\0"u8;
        byte[] addr = local.GetAddressBytes();
        Span<byte> input = stackalloc byte[label.Length + 4 + addr.Length];
        label.CopyTo(input);
        BinaryPrimitives.WriteUInt32BigEndian(input[label.Length..], vni);
        addr.CopyTo(input[(label.Length + 4)..]);

        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        hash[0] = (byte)((hash[0] & 0xFE) | 0x02); // unicast, locally administered
        return HardwareAddress.FromBytes(hash[..6]);
    }
}
