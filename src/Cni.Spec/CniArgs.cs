namespace Cni.Spec;

/// <summary>
/// The <c>CNI_ARGS</c> variable: <c>KEY=VALUE;KEY=VALUE</c>. Unknown keys are an error unless
/// <c>IgnoreUnknown</c> is true, as in the reference.
/// </summary>
public sealed class CniArgs
{
    private readonly List<KeyValuePair<string, string>> _pairs;

    private CniArgs(List<KeyValuePair<string, string>> pairs) => _pairs = pairs;

    public static readonly CniArgs Empty = new([]);

    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    public static CniArgs Parse(string? text)
    {
        if (string.IsNullOrEmpty(text)) return Empty;
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (string item in text.Split(';'))
        {
            if (item.Length == 0) continue;
            int eq = item.IndexOf('=');
            if (eq <= 0)
                throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"CNI_ARGS: invalid pair \"{item}\"");
            pairs.Add(new(item[..eq], item[(eq + 1)..]));
        }
        return new CniArgs(pairs);
    }

    public string? Get(string key)
    {
        foreach (var p in _pairs)
            if (p.Key == key) return p.Value;
        return null;
    }

    public bool IgnoreUnknown
    {
        get
        {
            string? v = Get("IgnoreUnknown");
            return v != null && (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase));
        }
    }

    /// <summary>Fails with code 2 on a key the plugin does not know, unless IgnoreUnknown is set.</summary>
    public void EnsureKnown(params string[] known)
    {
        if (IgnoreUnknown) return;
        foreach (var p in _pairs)
        {
            if (p.Key == "IgnoreUnknown") continue;
            if (Array.IndexOf(known, p.Key) < 0)
                throw new CniException(ErrorCode.UnsupportedField, $"CNI_ARGS: unknown key \"{p.Key}\"", "set IgnoreUnknown=1 to ignore keys the plugin does not use");
        }
    }
}
