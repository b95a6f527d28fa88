using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Cni.Spec;

/// <summary>
/// An address with a prefix length, as CNI writes it ("10.1.0.5/16"). Unlike <see cref="IPNetwork"/>
/// the host bits are kept: an interface address is both the address and its subnet.
/// </summary>
public readonly record struct IPPrefix(IPAddress Address, int PrefixLength)
{
    public bool IsV4 => Address.AddressFamily == AddressFamily.InterNetwork;
    public int MaxPrefixLength => IsV4 ? 32 : 128;

    public static IPPrefix Parse(string s) =>
        TryParse(s, out var p) ? p : throw new FormatException($"invalid CIDR address: {s}");

    public static bool TryParse([NotNullWhen(true)] string? s, out IPPrefix prefix)
    {
        prefix = default;
        if (string.IsNullOrEmpty(s)) return false;
        int slash = s.IndexOf('/');
        if (slash <= 0) return false;
        if (!IPAddress.TryParse(s.AsSpan(0, slash), out var addr)) return false;
        if (addr.IsIPv4MappedToIPv6) addr = addr.MapToIPv4();
        if (addr.AddressFamily == AddressFamily.InterNetworkV6 && addr.ScopeId != 0) return false;
        if (!int.TryParse(s.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out int len)) return false;
        int max = addr.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (len < 0 || len > max) return false;
        prefix = new IPPrefix(addr, len);
        return true;
    }

    /// <summary>The prefix with host bits cleared ("10.1.0.0/16").</summary>
    public IPPrefix Network
    {
        get
        {
            Span<byte> b = stackalloc byte[16];
            Address.TryWriteBytes(b, out int n);
            b = b[..n];
            for (int i = 0; i < n; i++)
            {
                int bitsHere = Math.Clamp(PrefixLength - i * 8, 0, 8);
                b[i] &= (byte)(0xFF << (8 - bitsHere));
            }
            return new IPPrefix(new IPAddress(b), PrefixLength);
        }
    }

    public bool Contains(IPAddress ip)
    {
        if (ip.AddressFamily != Address.AddressFamily) return false;
        return new IPPrefix(ip, PrefixLength).Network.Address.Equals(Network.Address);
    }

    public bool Overlaps(IPPrefix other)
    {
        if (IsV4 != other.IsV4) return false;
        int len = Math.Min(PrefixLength, other.PrefixLength);
        return new IPPrefix(Address, len).Network.Address.Equals(new IPPrefix(other.Address, len).Network.Address);
    }

    public override string ToString() => $"{Address}/{PrefixLength}";
}
