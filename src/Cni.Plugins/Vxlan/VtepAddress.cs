using Cni.Spec;
using System.Buffers.Binary;
using System.Net;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The VTEP's MAC when the config gives none: a function of the VNI and the local underlay address only, so a
/// re-created device (or a rebooted host) keeps the MAC its peers and their neighbours already know.
/// </summary>
public static class VtepAddress
{
    /// <summary>
    /// The low 48 bits of FNV-1a("sharpcni-vxlan" NUL, VNI big-endian, address bytes), made a locally administered
    /// unicast address. A plain hash on purpose, as <see cref="Attachment"/>: no OpenSSL at start-up.
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

        ulong mac = Attachment.Fnv1a64(input) & 0xFFFF_FFFF_FFFFUL;
        mac = (mac & ~(0x01UL << 40)) | (0x02UL << 40); // unicast, locally administered
        return new HardwareAddress(mac);
    }
}
