namespace Cni.Spec;

/// <summary>
/// Validation of names that come from the runtime before they reach a path or the kernel.
/// The rules follow the reference's <c>utils.Validate*</c>.
/// </summary>
public static class Names
{
    /// <summary>Letters, digits, '_', '.', '-', starting with a letter or digit.</summary>
    public static bool IsValidIdentifier(string? s)
    {
        if (string.IsNullOrEmpty(s)) return false;
        if (!char.IsAsciiLetterOrDigit(s[0])) return false;
        foreach (char c in s)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == '.' || c == '-')) return false;
        }
        return true;
    }

    public static void ValidateContainerId(string? id)
    {
        if (string.IsNullOrEmpty(id))
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, "missing containerID");
        if (!IsValidIdentifier(id))
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, "invalid characters in containerID", id);
    }

    public static void ValidateNetworkName(string? name)
    {
        if (string.IsNullOrEmpty(name))
            throw new CniException(ErrorCode.InvalidNetworkConfig, "missing network name");
        if (!IsValidIdentifier(name))
            throw new CniException(ErrorCode.InvalidNetworkConfig, "invalid characters found in network name", name);
    }

    /// <summary>Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not "." or "..".</summary>
    public static string? InterfaceNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "interface name is empty";
        if (System.Text.Encoding.UTF8.GetByteCount(name) > 15) return "interface name is too long";
        if (name == "." || name == "..") return "interface name is . or ..";
        foreach (char c in name)
        {
            if (c == '/' || c == ':' || char.IsWhiteSpace(c) || char.IsControl(c))
                return "interface name contains / or : or whitespace characters";
        }
        return null;
    }

    public static void ValidateInterfaceName(string? name)
    {
        string? problem = InterfaceNameProblem(name);
        if (problem != null)
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, problem, name);
    }
}
