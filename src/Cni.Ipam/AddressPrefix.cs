using System.Net;

namespace Cni.Ipam;

/// <summary>
/// An address with a prefix length ("10.1.0.5/16"). The host bits are kept: it is both an interface
/// address and the subnet it sits in. <see cref="Network"/> clears them.
/// </summary>
public readonly record struct AddressPrefix(IPAddress Address, int PrefixLength)
{
    public bool IsV6 => !IPAddressMath.IsV4(Address);
    public int Bits => IsV6 ? 128 : 32;

    public UInt128 MaskValue => IPAddressMath.Mask(PrefixLength, Bits);
    public UInt128 First => IPAddressMath.ToNumber(Address) & MaskValue;
    public UInt128 Last => First | (~MaskValue & (IsV6 ? UInt128.MaxValue : uint.MaxValue));

    public AddressPrefix Network => new(IPAddressMath.FromNumber(First, IsV6), PrefixLength);

    public bool Contains(IPAddress ip)
    {
        if (IPAddressMath.IsV4(ip) == IsV6) return false;
        return (IPAddressMath.ToNumber(ip) & MaskValue) == First;
    }

    public static bool TryParse(string? s, out AddressPrefix prefix)
    {
        prefix = default;
        if (string.IsNullOrEmpty(s)) return false;
        int slash = s.IndexOf('/');
        if (slash <= 0 || slash == s.Length - 1) return false;
        if (!IPAddressMath.TryParse(s.AsSpan(0, slash), out var addr)) return false;
        var lenText = s.AsSpan(slash + 1);
        if (lenText.Length > 3 || (lenText.Length > 1 && lenText[0] == '0')) return false;
        int len = 0;
        foreach (char c in lenText)
        {
            if (!char.IsAsciiDigit(c)) return false;
            len = len * 10 + (c - '0');
        }
        // A v4-mapped v6 address written with a /96+ mask is a v4 prefix, as in Go.
        bool mapped = s.AsSpan(0, slash).Contains(':') && IPAddressMath.IsV4(addr);
        if (mapped)
        {
            if (len < 96) return false;
            len -= 96;
        }
        if (len > IPAddressMath.BitLength(addr)) return false;
        prefix = new AddressPrefix(addr, len);
        return true;
    }

    public static AddressPrefix Parse(string s) =>
        TryParse(s, out var p) ? p : throw new FormatException($"invalid CIDR address: {s}");

    public override string ToString() => $"{IPAddressMath.Format(Address)}/{PrefixLength}";
}
