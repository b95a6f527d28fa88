using System.Text.Json;

namespace Cni.Spec;

/// <summary>How a plugin prints JSON it writes by hand: indented by four, escaped like the serializer's default.</summary>
public static class JsonOutput
{
    public static JsonWriterOptions WriterOptions => new() { Indented = true, IndentSize = 4, Encoder = AsciiJsonEncoder.Instance };
}
