using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Cni.Spec;

/// <summary>Decoding a plugin's own configuration type from the config bytes, with the spec's error for bad JSON.</summary>
public static class PluginConfig
{
    /// <summary>Deserializes with a source-generated type; malformed or empty input is code 6.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> json, JsonTypeInfo<T> typeInfo) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, typeInfo)
                ?? throw new CniException(ErrorCode.DecodingFailure, "failed to load netconf: empty document");
        }
        catch (JsonException e)
        {
            throw new CniException(ErrorCode.DecodingFailure, $"failed to load netconf: {e.Message}");
        }
    }
}
