using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Cni.Ipam;

/// <summary>
/// Address arithmetic over <see cref="UInt128"/>: an IPv4 address is its 32-bit value, an IPv6 address its
/// 128-bit value. Parsing is strict (what Go's net.ParseIP accepts, no zones), and formatting follows Go's
/// net.IP.String so file names match the ones the reference plugin writes.
/// </summary>
public static class IPAddressMath
{
    public static bool IsV4(IPAddress a) => a.AddressFamily == AddressFamily.InterNetwork;

    public static int BitLength(IPAddress a) => IsV4(a) ? 32 : 128;

    public static UInt128 ToNumber(IPAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.TryWriteBytes(b, out int n);
        return n == 4
            ? BinaryPrimitives.ReadUInt32BigEndian(b)
            : BinaryPrimitives.ReadUInt128BigEndian(b);
    }

    public static IPAddress FromNumber(UInt128 value, bool v6)
    {
        if (!v6)
        {
            Span<byte> b4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b4, (uint)value);
            return new IPAddress(b4);
        }
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, value);
        return new IPAddress(b);
    }

    /// <summary>Mask of <paramref name="prefixLength"/> leading one bits within an address of <paramref name="bits"/> bits.</summary>
    public static UInt128 Mask(int prefixLength, int bits)
    {
        UInt128 all = bits == 32 ? uint.MaxValue : UInt128.MaxValue;
        if (prefixLength == 0) return 0;
        return (all << (bits - prefixLength)) & all;
    }

    public static int Compare(IPAddress a, IPAddress b) => ToNumber(a).CompareTo(ToNumber(b));

    /// <summary>
    /// Parses an address the way Go's net.ParseIP does: dotted quad with no leading zeros, or IPv6 text
    /// (IPv4-mapped IPv6 becomes IPv4). Zones, brackets and the shorthand forms .NET also accepts
    /// ("10.1", "0x0a.0.0.1") are refused.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> s, out IPAddress address)
    {
        address = IPAddress.None;
        if (s.IsEmpty || s.Length > 45) return false;
        if (s.Contains(':'))
        {
            foreach (char c in s)
                if (!(char.IsAsciiHexDigit(c) || c == ':' || c == '.')) return false;
            if (!IPAddress.TryParse(s, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6) return false;
            int dot = s.IndexOf('.');
            if (dot >= 0 && !TryParseV4(s[(s.LastIndexOf(':') + 1)..], out _)) return false;
            address = v6.IsIPv4MappedToIPv6 ? v6.MapToIPv4() : v6;
            return true;
        }
        if (!TryParseV4(s, out var v4)) return false;
        address = v4;
        return true;
    }

    public static IPAddress Parse(string s) =>
        TryParse(s, out var a) ? a : throw new FormatException($"invalid IP address: {s}");

    private static bool TryParseV4(ReadOnlySpan<char> s, out IPAddress address)
    {
        address = IPAddress.None;
        Span<byte> b = stackalloc byte[4];
        int part = 0;
        while (true)
        {
            int end = s.IndexOf('.');
            var field = end < 0 ? s : s[..end];
            if (field.Length is 0 or > 3 || (field.Length > 1 && field[0] == '0')) return false;
            int v = 0;
            foreach (char c in field)
            {
                if (!char.IsAsciiDigit(c)) return false;
                v = v * 10 + (c - '0');
            }
            if (v > 255 || part > 3) return false;
            b[part++] = (byte)v;
            if (end < 0) break;
            s = s[(end + 1)..];
        }
        if (part != 4) return false;
        address = new IPAddress(b);
        return true;
    }

    /// <summary>Text of an address exactly as Go's net.IP.String writes it (the reference's file names).</summary>
    public static string Format(IPAddress a)
    {
        if (IsV4(a)) return a.ToString();
        if (a.IsIPv4MappedToIPv6) return a.MapToIPv4().ToString();
        Span<byte> b = stackalloc byte[16];
        a.TryWriteBytes(b, out _);
        Span<ushort> g = stackalloc ushort[8];
        for (int i = 0; i < 8; i++) g[i] = BinaryPrimitives.ReadUInt16BigEndian(b[(2 * i)..]);

        // Longest run of zero groups (at least two); the first one wins a tie.
        int bestStart = -1, bestLen = 0;
        for (int i = 0; i < 8;)
        {
            if (g[i] != 0) { i++; continue; }
            int j = i;
            while (j < 8 && g[j] == 0) j++;
            if (j - i >= 2 && j - i > bestLen) { bestStart = i; bestLen = j - i; }
            i = j;
        }

        var sb = new System.Text.StringBuilder(39);
        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                sb.Append("::");
                i += bestLen - 1;
                continue;
            }
            if (i > 0 && sb.Length > 0 && sb[^1] != ':') sb.Append(':');
            sb.Append(g[i].ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
