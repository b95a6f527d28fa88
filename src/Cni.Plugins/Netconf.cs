using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// Decoding a plugin's own fields from the config bytes, the way the reference's <c>loadNetConf</c> fails:
/// JSON comments skipped, trailing commas allowed, names matched case-sensitively, numbers only as JSON
/// numbers; malformed JSON, a root that is not an object, or a field of the wrong kind is CNI code 6
/// ("failed to load netconf: ...").
/// </summary>
internal static class Netconf
{
    /// <summary>Reads the root object with <paramref name="read"/>; JSON null is an empty document.</summary>
    public static T Decode<T>(ReadOnlySpan<byte> json, Func<JsonElement, T> read) where T : class
    {
        try
        {
            return JsonRead.ReadDocument(json, lenient: true, root => root.ValueKind switch
            {
                JsonValueKind.Object => read(root),
                JsonValueKind.Null => null,
                _ => throw JsonRead.Mismatch("$", "an object", root),
            }) ?? throw new CniException(ErrorCode.DecodingFailure, "failed to load netconf: empty document");
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"failed to load netconf: {e.Message}");
        }
    }
}
