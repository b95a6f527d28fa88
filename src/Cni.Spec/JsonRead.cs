using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// Reflection-free reading of JSON into the spec's and the plugins' types: a <see cref="JsonDocument"/>
/// walked by hand. In .NET 9 NativeAOT, the serializer's first use of a type builds its metadata with
/// runtime reflection (custom-attribute lookups for polymorphism, <c>Type.Assembly</c> in every converter's
/// constructor), which cost about a millisecond of every plugin process; a document and these accessors cost
/// microseconds. Each accessor takes the JSON path of the value for its error message and throws
/// <see cref="JsonException"/> on a value of the wrong kind, which callers turn into CNI code 6, as the
/// serializer's own exceptions were.
/// </summary>
public static class JsonRead
{
    /// <summary>How configs are read: comments skipped, trailing commas allowed.</summary>
    public static readonly JsonDocumentOptions Lenient = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    /// <summary>Plain RFC 8259 JSON.</summary>
    public static readonly JsonDocumentOptions Strict = default;

    /// <summary>
    /// Parses a whole document. The document is not disposed by callers that keep elements of it: it lives as
    /// long as the objects that point into it (its buffers then go to the GC instead of back to the pool).
    /// </summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> json, bool lenient = true) =>
        JsonDocument.Parse(json, lenient ? Lenient : Strict);

    /// <summary>The root object of <paramref name="json"/>; JsonException when it is not an object.</summary>
    public static JsonElement RootObject(ReadOnlyMemory<byte> json, bool lenient = true)
    {
        var root = Parse(json, lenient).RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Mismatch("$", "an object", root);
        return root;
    }

    /// <summary>
    /// Reads a whole document with <paramref name="read"/>, given its root element of whatever kind: for readers
    /// that copy out everything they keep. The document is not disposed: returning its buffers to the shared
    /// ArrayPool would run the pool's per-core set-up (a processor-ID speed check) in a process about to exit.
    /// Malformed JSON, and a string the reader asks for that is not valid UTF-8 or escapes a lone surrogate, throw
    /// <see cref="JsonException"/>, as they did from the serializer.
    /// </summary>
    public static T ReadDocument<T>(ReadOnlySpan<byte> json, bool lenient, Func<JsonElement, T> read)
    {
        var document = JsonDocument.Parse(json.ToArray(), lenient ? Lenient : Strict);
        try
        {
            return read(document.RootElement);
        }
        catch (InvalidOperationException e) when (e.Source == TextErrorSource)
        {
            throw new JsonException(e.Message, e);
        }
    }

    /// <summary>
    /// The <see cref="Exception.Source"/> System.Text.Json gives the InvalidOperationExceptions that are about the
    /// JSON text (a string that cannot be transcoded); the serializer rethrows exactly those as JsonException.
    /// </summary>
    private const string TextErrorSource = "System.Text.Json.Rethrowable";

    /// <summary>
    /// A property's name for matching against field names, or null when its bytes are not UTF-8: such a name
    /// matches no field, and the serializer ignored it (it read it with U+FFFD in place of the bad bytes).
    /// An escaped lone surrogate still fails, as it did in the serializer.
    /// </summary>
    public static string? PropertyName(JsonProperty p)
    {
        try
        {
            return p.Name;
        }
        catch (InvalidOperationException e) when (e.InnerException is System.Text.DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Is the value JSON null (a field that is present but null reads as absent)?</summary>
    public static bool IsNull(JsonElement e) => e.ValueKind == JsonValueKind.Null;

    /// <summary>An object, or null for JSON null.</summary>
    public static JsonElement? Object(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.Object => e,
        JsonValueKind.Null => null,
        _ => throw Mismatch(path, "an object", e),
    };

    /// <summary>A string, or null for JSON null.</summary>
    public static string? String(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.String => Text(e, path),
        JsonValueKind.Null => null,
        _ => throw Mismatch(path, "a string", e),
    };

    /// <summary>A boolean; null is an error, as for the serializer's non-nullable bool.</summary>
    public static bool Bool(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Mismatch(path, "true or false", e),
    };

    public static bool? NullableBool(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Bool(e, path);

    /// <summary>A 32-bit integer (no fraction, no exponent beyond an integral value, in range); null is an error.</summary>
    public static int Int32(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw Mismatch(path, "a 32-bit integer", e);

    public static int? NullableInt32(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Int32(e, path);

    public static long Int64(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) ? v : throw Mismatch(path, "a 64-bit integer", e);

    public static long? NullableInt64(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Int64(e, path);

    public static double Double(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) ? v : throw Mismatch(path, "a number", e);

    public static double? NullableDouble(JsonElement e, string path) => e.ValueKind == JsonValueKind.Null ? null : Double(e, path);

    /// <summary>A list read item by item with <paramref name="item"/> (given the item and its path), or null for JSON null.</summary>
    public static List<T>? List<T>(JsonElement e, string path, Func<JsonElement, string, T> item)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw Mismatch(path, "an array", e);
        var list = new List<T>(e.GetArrayLength());
        int i = 0;
        foreach (var x in e.EnumerateArray()) list.Add(item(x, $"{path}[{i++}]"));
        return list;
    }

    /// <summary>A list of strings (null items stay null, as the serializer kept them), or null for JSON null.</summary>
    public static List<string?>? NullableStringList(JsonElement e, string path) => List(e, path, String);

    /// <summary>A list of strings; a null item is an error.</summary>
    public static List<string>? StringList(JsonElement e, string path) =>
        List(e, path, static (x, p) => String(x, p) ?? throw new JsonException($"The JSON value at '{p}' must be a string, not null."));

    /// <summary>An object; null is an error (a list item or a field that must be there).</summary>
    public static JsonElement RequiredObject(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Object ? e : throw Mismatch(path, "an object", e);

    /// <summary>
    /// A property's name. A name that is not valid UTF-8 is a JsonException (as it was for the serializer), where
    /// <see cref="JsonProperty.Name"/> throws InvalidOperationException; <paramref name="objectPath"/> is the path of the object.
    /// </summary>
    public static string Name(JsonProperty p, string objectPath)
    {
        try
        {
            return p.Name;
        }
        catch (InvalidOperationException)
        {
            throw new JsonException($"A property name in the JSON object at '{objectPath}' is not valid UTF-8.");
        }
    }

    // A string's text; invalid UTF-8 is a JsonException, as it was for the serializer.
    private static string Text(JsonElement e, string path)
    {
        try
        {
            return e.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new JsonException($"The JSON value at '{path}' is not valid UTF-8.");
        }
    }

    /// <summary>An object of booleans (the <c>capabilities</c> map), or null for JSON null.</summary>
    public static Dictionary<string, bool>? BoolMap(JsonElement e, string path)
    {
        if (Object(e, path) is not { } obj) return null;
        var map = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            string name = Name(p, path);
            map[name] = Bool(p.Value, $"{path}.{name}");
        }
        return map;
    }

    /// <summary>The exception for a value of the wrong kind at <paramref name="path"/>.</summary>
    public static JsonException Mismatch(string path, string expected, JsonElement actual) =>
        new($"The JSON value at '{path}' must be {expected}, not {Describe(actual)}.");

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };
}
