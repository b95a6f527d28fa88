using System.Text.Encodings.Web;

namespace Cni.Spec;

/// <summary>
/// JSON string escaping that produces the same bytes as <see cref="JavaScriptEncoder.Default"/>: printable
/// ASCII passes through except the HTML-sensitive <c>" &amp; ' + &lt; &gt; ` \</c>; everything else is escaped
/// (<c>\n</c>, <c>\\</c>, <c>\u0022</c>, surrogate pairs as two <c>\uXXXX</c>). It exists for start-up time:
/// the default encoder's static constructor fills two 64K-entry allow-lists (one for the "unsafe relaxed"
/// encoder nobody here uses) the first time anything is escaped, which costs a short-lived plugin more
/// than the rest of printing its answer.
/// </summary>
public sealed class AsciiJsonEncoder : JavaScriptEncoder
{
    public static readonly AsciiJsonEncoder Instance = new();

    private AsciiJsonEncoder() { }

    // A UTF-16 code unit becomes at most "\uXXXX".
    public override int MaxOutputCharactersPerInputCharacter => 6;

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar is < 0x20 or > 0x7E or '"' or '&' or '\'' or '+' or '<' or '>' or '\\' or '`';

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (int i = 0; i < textLength; i++)
            if (WillEncode(text[i])) return i;
        return -1;
    }

    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        // Bytes of multi-byte sequences are all >= 0x80, so the first byte to encode is the first
        // byte outside the pass-through set.
        for (int i = 0; i < utf8Text.Length; i++)
            if (WillEncode(utf8Text[i])) return i;
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var destination = new Span<char>(buffer, bufferLength);
        numberOfCharactersWritten = 0;
        if (!WillEncode(unicodeScalar))
        {
            if (destination.IsEmpty) return false;
            destination[0] = (char)unicodeScalar;
            numberOfCharactersWritten = 1;
            return true;
        }
        char shortForm = unicodeScalar switch
        {
            '\b' => 'b', '\t' => 't', '\n' => 'n', '\f' => 'f', '\r' => 'r', '\\' => '\\',
            _ => '\0',
        };
        if (shortForm != '\0')
        {
            if (destination.Length < 2) return false;
            destination[0] = '\\';
            destination[1] = shortForm;
            numberOfCharactersWritten = 2;
            return true;
        }
        if (unicodeScalar > 0xFFFF)
        {
            // Outside the BMP: the UTF-16 surrogate pair, each half escaped.
            if (destination.Length < 12) return false;
            int v = unicodeScalar - 0x10000;
            WriteUnicodeEscape(destination, (char)(0xD800 + (v >> 10)));
            WriteUnicodeEscape(destination[6..], (char)(0xDC00 + (v & 0x3FF)));
            numberOfCharactersWritten = 12;
            return true;
        }
        if (destination.Length < 6) return false;
        WriteUnicodeEscape(destination, (char)unicodeScalar);
        numberOfCharactersWritten = 6;
        return true;
    }

    private static void WriteUnicodeEscape(Span<char> destination, char c)
    {
        const string Hex = "0123456789ABCDEF";
        destination[0] = '\\';
        destination[1] = 'u';
        destination[2] = Hex[c >> 12];
        destination[3] = Hex[(c >> 8) & 0xF];
        destination[4] = Hex[(c >> 4) & 0xF];
        destination[5] = Hex[c & 0xF];
    }
}
