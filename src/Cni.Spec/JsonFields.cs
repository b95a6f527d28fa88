using System.Text;
using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// The field names of one JSON object shape, matched against an object's keys as Go's <c>encoding/json</c> matches
/// them: a key equal to a field's name selects that field; otherwise a key equal to a field's name after Go's case
/// folding (each rune to upper case of its lower case) selects the first such field. The reference plugins decode
/// with <c>encoding/json</c>, and runtimes write keys that rely on it: containerd's go-cni sends
/// <c>{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":""}</c> inside <c>runtimeConfig.portMappings</c>.
/// Every reader in the suite walks an object's properties and switches on <see cref="Match(JsonProperty)"/>, so a
/// repeated field's last value wins, whatever the case of its keys, as in Go.
/// </summary>
public sealed class JsonFields
{
    private readonly string[] _names;
    private readonly string[] _folded;

    public JsonFields(params string[] names)
    {
        _names = names;
        _folded = new string[names.Length];
        for (int i = 0; i < names.Length; i++) _folded[i] = Fold(names[i]);
    }

    /// <summary>The field a property's key selects, or null when none does (or the key is not valid UTF-8).</summary>
    public string? Match(JsonProperty p)
    {
        foreach (string n in _names)
            if (p.NameEquals(n)) return n;
        return JsonRead.PropertyName(p) is { } key ? MatchFolded(key) : null;
    }

    /// <summary>
    /// The field a property's key selects, or null when none does; a key that is not valid UTF-8 is a
    /// <see cref="JsonException"/> naming <paramref name="objectPath"/> (for readers that refused such keys before).
    /// </summary>
    public string? Match(JsonProperty p, string objectPath)
    {
        foreach (string n in _names)
            if (p.NameEquals(n)) return n;
        return MatchFolded(JsonRead.Name(p, objectPath));
    }

    /// <summary>The field <paramref name="key"/> selects, or null.</summary>
    public string? Match(string key)
    {
        foreach (string n in _names)
            if (string.Equals(n, key, StringComparison.Ordinal)) return n;
        return MatchFolded(key);
    }

    private string? MatchFolded(string key)
    {
        string folded = Fold(key);
        for (int i = 0; i < _folded.Length; i++)
            if (string.Equals(_folded[i], folded, StringComparison.Ordinal)) return _names[i];
        return null;
    }

    /// <summary>Does a property's key select the one field <paramref name="name"/> (exactly or folded)?</summary>
    public static bool Selects(JsonProperty p, string name) =>
        p.NameEquals(name) || (JsonRead.PropertyName(p) is { } key && string.Equals(Fold(key), Fold(name), StringComparison.Ordinal));

    /// <summary>
    /// The value of field <paramref name="name"/> in <paramref name="obj"/> read as a one-field object shape: the last
    /// property whose key selects it (exactly or folded). False when absent.
    /// </summary>
    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        value = default;
        bool found = false;
        foreach (var p in obj.EnumerateObject())
        {
            if (Selects(p, name))
            {
                value = p.Value;
                found = true;
            }
        }
        return found;
    }

    /// <summary>
    /// Go's key folding (<c>encoding/json</c>'s foldName): ASCII letters to upper case; any other rune to the upper case
    /// of its lower case, so that the Kelvin sign folds with <c>k</c> and the long s with <c>s</c>.
    /// </summary>
    public static string Fold(string key)
    {
        bool ascii = true;
        foreach (char c in key)
            if (c >= 0x80) { ascii = false; break; }
        if (ascii) return key.ToUpperInvariant();
        var sb = new StringBuilder(key.Length);
        foreach (Rune r in key.EnumerateRunes())
        {
            Rune f = r.Value switch
            {
                < 0x80 => Rune.ToUpperInvariant(r),
                // Go's Unicode tables map these to ASCII; .NET's invariant casing keeps them as they are.
                0x017F => new Rune('S'), // LATIN SMALL LETTER LONG S
                0x0130 or 0x0131 => new Rune('I'), // LATIN CAPITAL LETTER I WITH DOT ABOVE, LATIN SMALL LETTER DOTLESS I
                _ => Rune.ToUpperInvariant(Rune.ToLowerInvariant(r)),
            };
            sb.Append(f.ToString());
        }
        return sb.ToString();
    }
}
