using System.Text.Json;
using System.Text.Json.Serialization;

namespace Cni.Spec;

/// <summary>Source-generated (reflection-free) JSON for every spec type.</summary>
[JsonSourceGenerationOptions(
    // For reading (output goes through SpecJsonWriteContext): metadata alone, no serialize handlers
    // (and their encoded property names) to build at start-up.
    GenerationMode = JsonSourceGenerationMode.Metadata,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true,
    IndentSize = 4,
    AllowTrailingCommas = true,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip)]
[JsonSerializable(typeof(NetworkConfig))]
[JsonSerializable(typeof(NetworkConfigList))]
[JsonSerializable(typeof(Result))]
[JsonSerializable(typeof(Result04x))]
[JsonSerializable(typeof(Result02x))]
[JsonSerializable(typeof(ErrorResult))]
[JsonSerializable(typeof(VersionResult))]
[JsonSerializable(typeof(Dns))]
[JsonSerializable(typeof(List<Attachment>))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonNode))]
[JsonSerializable(typeof(JsonElement))]
public partial class SpecJsonContext : JsonSerializerContext
{
}

/// <summary>
/// Write-only JSON for what a plugin prints: serialization-mode source generation writes straight to a
/// Utf8JsonWriter without building type metadata first, which keeps a plugin's start-up short.
/// </summary>
[JsonSourceGenerationOptions(
    GenerationMode = JsonSourceGenerationMode.Serialization,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = true,
    IndentSize = 4)]
[JsonSerializable(typeof(Result))]
[JsonSerializable(typeof(Result04x))]
[JsonSerializable(typeof(Result02x))]
public partial class SpecJsonWriteContext : JsonSerializerContext
{
}

/// <summary>How a plugin prints JSON it writes by hand: indented by four, escaped like the serializer's default.</summary>
public static class JsonOutput
{
    public static JsonWriterOptions WriterOptions => new() { Indented = true, IndentSize = 4, Encoder = AsciiJsonEncoder.Instance };
}
