namespace Cni.Spec;

/// <summary>Spec versions and their ordering.</summary>
public static class CniVersion
{
    public const string V010 = "0.1.0";
    public const string V020 = "0.2.0";
    public const string V030 = "0.3.0";
    public const string V031 = "0.3.1";
    public const string V040 = "0.4.0";
    public const string V100 = "1.0.0";
    public const string V110 = "1.1.0";

    /// <summary>The newest spec version this code implements.</summary>
    public const string Current = V110;

    public static readonly string[] All = [V010, V020, V030, V031, V040, V100, V110];

    public static bool IsSupported(string version) => Array.IndexOf(All, version) >= 0;

    /// <summary>Compares two dotted versions numerically; throws <see cref="CniException"/> (code 6) when one is not a version.</summary>
    public static int Compare(string a, string b)
    {
        var (a1, a2, a3) = Parse(a);
        var (b1, b2, b3) = Parse(b);
        if (a1 != b1) return a1.CompareTo(b1);
        if (a2 != b2) return a2.CompareTo(b2);
        return a3.CompareTo(b3);
    }

    public static bool AtLeast(string version, string minimum) => Compare(version, minimum) >= 0;

    private static (int, int, int) Parse(string v)
    {
        var parts = v.Split('.');
        if (parts.Length != 3 ||
            !int.TryParse(parts[0], System.Globalization.NumberStyles.None, null, out int major) ||
            !int.TryParse(parts[1], System.Globalization.NumberStyles.None, null, out int minor) ||
            !int.TryParse(parts[2], System.Globalization.NumberStyles.None, null, out int patch))
        {
            throw new CniException(ErrorCode.DecodingFailure, $"invalid version \"{v}\": the version must be of the form major.minor.patch");
        }
        return (major, minor, patch);
    }

    /// <summary>Which result family a spec version belongs to.</summary>
    internal static ResultFamily FamilyOf(string version) => version switch
    {
        V010 or V020 => ResultFamily.V02x,
        V030 or V031 or V040 => ResultFamily.V04x,
        _ => ResultFamily.V1x,
    };
}

internal enum ResultFamily { V02x, V04x, V1x }
