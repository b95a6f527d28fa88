using System.Net.Sockets;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The overlay's MTU: what fits in one underlay packet after the encapsulation. VXLAN adds an outer IP header
/// (20 bytes IPv4, 40 IPv6), UDP (8), the VXLAN header (8) and the inner Ethernet header (14): 50 or 70 bytes.
/// </summary>
public static class OverlayMtu
{
    public const int Ipv4Overhead = 50;
    public const int Ipv6Overhead = 70;
    public const int Minimum = 68;

    public static int Overhead(AddressFamily underlayFamily) =>
        underlayFamily == AddressFamily.InterNetworkV6 ? Ipv6Overhead : Ipv4Overhead;

    /// <summary>
    /// The MTU for the vxlan device, the bridge and the containers: the configured one, or the underlay's minus
    /// the overhead. A configured MTU that does not fit in the underlay is a config error (it would be silently
    /// dropped or fragmented on the underlay).
    /// </summary>
    public static int Resolve(int? configured, int underlayMtu, AddressFamily underlayFamily, string underlayName)
    {
        int overhead = Overhead(underlayFamily);
        int largest = underlayMtu - overhead;
        if (largest < Minimum)
            throw CniException.InvalidConfig(
                $"underlay device {underlayName} has MTU {underlayMtu}: too small for VXLAN (needs at least {Minimum + overhead})");
        if (configured is not { } mtu) return largest;
        if (mtu > largest)
            throw CniException.InvalidConfig(
                $"mtu {mtu} is too large for underlay device {underlayName}: its MTU {underlayMtu} minus the {overhead}-byte VXLAN overhead allows at most {largest}");
        return mtu;
    }
}
