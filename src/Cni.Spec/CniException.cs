namespace Cni.Spec;

/// <summary>The well-known error codes of the CNI specification (section "Error").</summary>
public static class ErrorCode
{
    public const int IncompatibleVersion = 1;
    public const int UnsupportedField = 2;
    public const int UnknownContainer = 3;
    public const int InvalidEnvironmentVariables = 4;
    public const int IOFailure = 5;
    public const int DecodingFailure = 6;
    public const int InvalidNetworkConfig = 7;
    public const int TryAgainLater = 11;
    public const int PluginNotAvailable = 50;
    public const int PluginNotAvailableLimitedConnectivity = 51;
    /// <summary>Plugin-specific codes start here.</summary>
    public const int FirstPluginCode = 100;
    /// <summary>An unexpected failure inside a plugin (the reference uses 999 for it as well).</summary>
    public const int Internal = 999;
}

/// <summary>
/// A failure reported to the runtime as a CNI error object. Every error a plugin reports goes through
/// this type; the dispatcher prints it as <c>{"cniVersion","code","msg","details"}</c>.
/// </summary>
public class CniException : Exception
{
    public CniException(int code, string msg, string? details = null, Exception? inner = null)
        : base(msg, inner)
    {
        Code = code;
        Details = details ?? "";
    }

    public int Code { get; }
    public string Details { get; }

    public static CniException InvalidConfig(string msg, string? details = null) =>
        new(ErrorCode.InvalidNetworkConfig, msg, details);
}
