using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Cni.Spec;

/// <summary>
/// The process environment as a dictionary that reads single variables with getenv and copies the whole
/// environment only when someone enumerates it (IPAM delegation passes it on). A plugin looks up about
/// six CNI_* names; building the runtime's Hashtable of every variable for that is start-up time wasted.
/// </summary>
public sealed class ProcessEnvironment : IReadOnlyDictionary<string, string>
{
    private Dictionary<string, string>? _all;

    private Dictionary<string, string> All => _all ??= Snapshot();

    private static Dictionary<string, string> Snapshot()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";
        return env;
    }

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        if (_all is not null) return _all.TryGetValue(key, out value);
        value = Environment.GetEnvironmentVariable(key);
        return value is not null;
    }

    public string this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException(key);
    public bool ContainsKey(string key) => TryGetValue(key, out _);
    public int Count => All.Count;
    public IEnumerable<string> Keys => All.Keys;
    public IEnumerable<string> Values => All.Values;
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => All.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
