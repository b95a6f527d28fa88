using System.Text;
using System.Text.Json;
using Cni.Spec;
using Xunit;

namespace Cni.Spec.Tests;

public class AsciiJsonEncoderTests
{
    private static byte[] Write(string value, bool ours)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ours ? AsciiJsonEncoder.Instance : null }))
        {
            writer.WriteStartObject();
            writer.WriteString(value, value);
            writer.WriteString("utf8", Encoding.UTF8.GetBytes(value));
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    [Fact]
    public void Escapes_every_BMP_character_exactly_like_the_default_encoder()
    {
        var all = new StringBuilder();
        for (int c = 0; c <= 0xFFFF; c++)
            if (c is < 0xD800 or > 0xDFFF) all.Append((char)c);
        // In chunks, so a mismatch names a short string.
        for (int i = 0; i < all.Length; i += 256)
        {
            string chunk = all.ToString(i, Math.Min(256, all.Length - i));
            Assert.Equal(Encoding.UTF8.GetString(Write(chunk, ours: false)), Encoding.UTF8.GetString(Write(chunk, ours: true)));
        }
    }

    [Theory]
    [InlineData("plain ascii name")]
    [InlineData("quote \" backslash \\ slash / tab \t newline \n")]
    [InlineData("html <>&'+` chars")]
    [InlineData("emoji \U0001F600 and \U0010FFFF")]
    [InlineData("lone surrogates \uD800 x \uDC00")]
    [InlineData("")]
    public void Writes_the_same_bytes_as_the_default_encoder(string value) =>
        Assert.Equal(Write(value, ours: false), Write(value, ours: true));

    [Fact]
    public void Invalid_utf8_is_replaced_like_the_default_encoder()
    {
        byte[] invalid = [(byte)'a', 0xC3, (byte)'b', 0xFF, 0xED, 0xA0, 0x80];
        string Run(bool ours)
        {
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ours ? AsciiJsonEncoder.Instance : null }))
                writer.WriteStringValue(Encoding.UTF8.GetString(invalid));
            return Encoding.UTF8.GetString(buffer.ToArray());
        }
        Assert.Equal(Run(ours: false), Run(ours: true));
    }
}
