using System.Globalization;

namespace Cni.Plugins;

/// <summary>An Ethernet (EUI-48) address, written "aa:bb:cc:dd:ee:ff" as CNI results write it.</summary>
public readonly record struct HardwareAddress(ulong Value)
{
    public static HardwareAddress FromBytes(ReadOnlySpan<byte> b)
    {
        if (b.Length != 6) throw new ArgumentException($"an Ethernet address has 6 bytes, not {b.Length}");
        ulong v = 0;
        foreach (byte x in b) v = (v << 8) | x;
        return new HardwareAddress(v);
    }

    public byte[] ToBytes()
    {
        var b = new byte[6];
        for (int i = 0; i < 6; i++) b[i] = (byte)(Value >> (8 * (5 - i)));
        return b;
    }

    public bool IsMulticast => ((Value >> 40) & 0x01) != 0;
    public bool IsZero => Value == 0;

    /// <summary>Accepts "aa:bb:cc:dd:ee:ff" and "aa-bb-cc-dd-ee-ff", any case.</summary>
    public static bool TryParse(string? s, out HardwareAddress address)
    {
        address = default;
        if (s is null || s.Length != 17) return false;
        char sep = s[2];
        if (sep != ':' && sep != '-') return false;
        ulong v = 0;
        for (int i = 0; i < 6; i++)
        {
            if (i > 0 && s[i * 3 - 1] != sep) return false;
            if (!byte.TryParse(s.AsSpan(i * 3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte part)) return false;
            v = (v << 8) | part;
        }
        address = new HardwareAddress(v);
        return true;
    }

    public override string ToString()
    {
        Span<char> buf = stackalloc char[17];
        for (int i = 0; i < 6; i++)
        {
            byte part = (byte)(Value >> (8 * (5 - i)));
            part.TryFormat(buf.Slice(i * 3, 2), out _, "x2", CultureInfo.InvariantCulture);
            if (i < 5) buf[i * 3 + 2] = ':';
        }
        return new string(buf);
    }
}
