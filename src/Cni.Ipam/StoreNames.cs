namespace Cni.Ipam;

/// <summary>Checks that names from the input cannot escape the store directory before they become paths.</summary>
public static class StoreNames
{
    /// <summary>Letters, digits, '_', '.', '-', starting with a letter or digit.</summary>
    public static bool IsValidName(string? s)
    {
        if (string.IsNullOrEmpty(s) || s.Length > 1024 || !char.IsAsciiLetterOrDigit(s[0])) return false;
        foreach (char c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')) return false;
        return true;
    }

    /// <summary>1-15 bytes, no '/', ':' or whitespace, not "." or "..".</summary>
    public static bool IsValidInterfaceName(string? s)
    {
        if (string.IsNullOrEmpty(s) || s is "." or "..") return false;
        if (System.Text.Encoding.UTF8.GetByteCount(s) > 15) return false;
        foreach (char c in s)
            if (c is '/' or ':' or '\0' || char.IsWhiteSpace(c) || char.IsControl(c)) return false;
        return true;
    }

    public static void ValidateNetworkName(string? name)
    {
        if (!IsValidName(name))
            throw new IpamConfigException(
                $"invalid network name '{name}': use letters, digits, '_', '.', '-', starting with a letter or digit");
        // The name is a directory of the store: one path component.
        if (name!.Length > 255)
            throw new IpamConfigException($"invalid network name: {name.Length} characters, at most 255 (it names a directory)");
    }

    public static void ValidateContainerId(string? id)
    {
        if (!IsValidName(id))
            throw new IpamConfigException(
                $"invalid container ID '{id}': use letters, digits, '_', '.', '-', starting with a letter or digit");
    }

    public static void ValidateInterfaceName(string? ifname)
    {
        if (!IsValidInterfaceName(ifname))
            throw new IpamConfigException($"invalid interface name '{ifname}': 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'");
    }
}
