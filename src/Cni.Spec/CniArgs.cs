namespace Cni.Spec;

/// <summary>
/// The <c>CNI_ARGS</c> variable: <c>KEY=VALUE;KEY=VALUE</c>. As in the reference (cni's types.LoadArgs): keys match
/// exactly (case-sensitive), a key given twice takes its last value, and keys the plugin does not know are an error
/// unless <c>IgnoreUnknown</c> is 1/true (any case) — a value other than 1/true/0/false is an error itself. Runtimes
/// on the Kubernetes path (containerd, CRI-O) send <c>IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
/// K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..</c>. More lenient than the reference: empty items (a trailing
/// <c>;</c>) are skipped and a value may contain <c>=</c>.
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

    /// <summary>The value of a key (exact match); the last one when the key is given more than once.</summary>
    public string? Get(string key)
    {
        for (int i = _pairs.Count - 1; i >= 0; i--)
            if (_pairs[i].Key == key) return _pairs[i].Value;
        return null;
    }

    /// <summary>IgnoreUnknown is 1 or true (any case); 0, false or absent is false; anything else is an error (code 4).</summary>
    public bool IgnoreUnknown
    {
        get
        {
            string? v = Get("IgnoreUnknown");
            if (v is null || v == "0" || v.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
            if (v == "1" || v.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"CNI_ARGS: invalid IgnoreUnknown value \"{v}\"", "use 1, true, 0 or false");
        }
    }

    /// <summary>
    /// Fails with code 2 on a key the plugin does not know, unless IgnoreUnknown is set (code 4 when IgnoreUnknown
    /// has a value that is not a boolean).
    /// </summary>
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
