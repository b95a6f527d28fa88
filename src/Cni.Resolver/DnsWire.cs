using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Cni.Resolver;

/// <summary>Record types and response codes the resolver speaks (RFC 1035, RFC 3596).</summary>
public static class DnsType
{
    public const ushort A = 1, Ptr = 12, Aaaa = 28, Opt = 41, Any = 255;
}

public static class DnsRcode
{
    public const int NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5;
}

/// <summary>One question of a query as it arrived: its ID, flags, the name (lower case, no trailing dot), type and class.</summary>
public sealed class DnsQuery
{
    public ushort Id { get; init; }
    public ushort Flags { get; init; }
    public string Name { get; init; } = "";
    public ushort Type { get; init; }
    public ushort Class { get; init; }
    /// <summary>The question section's bytes, echoed verbatim in the answer.</summary>
    public ReadOnlyMemory<byte> Question { get; init; }
    /// <summary>The UDP payload size the asker accepts (512, or its EDNS0 OPT record's size).</summary>
    public int MaxUdpSize { get; init; } = 512;

    public int Opcode => (Flags >> 11) & 0xf;
    public bool RecursionDesired => (Flags & 0x0100) != 0;
    public bool IsResponse => (Flags & 0x8000) != 0;
}

/// <summary>RFC 1035 messages: the parts of a query the resolver needs, and answers built from scratch.</summary>
public static class DnsWire
{
    public const int HeaderLength = 12;

    /// <summary>
    /// Reads a query: header, one question, and the OPT record's UDP size if there is one. False for anything that is not
    /// a well-formed query with exactly one question (the caller answers FORMERR when it has at least a header).
    /// </summary>
    public static bool TryParseQuery(ReadOnlyMemory<byte> message, out DnsQuery query)
    {
        query = null!;
        var m = message.Span;
        if (m.Length < HeaderLength) return false;
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(m);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(m[2..]);
        ushort qd = BinaryPrimitives.ReadUInt16BigEndian(m[4..]);
        ushort an = BinaryPrimitives.ReadUInt16BigEndian(m[6..]);
        ushort ns = BinaryPrimitives.ReadUInt16BigEndian(m[8..]);
        ushort ar = BinaryPrimitives.ReadUInt16BigEndian(m[10..]);
        if (qd != 1 || (flags & 0x8000) != 0) return false;
        int at = HeaderLength;
        if (!TryReadName(m, ref at, out string name) || at + 4 > m.Length) return false;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(m[at..]);
        ushort cls = BinaryPrimitives.ReadUInt16BigEndian(m[(at + 2)..]);
        int questionEnd = at + 4;
        int maxUdp = 512;
        // Skip answer and authority records; read an OPT record among the additional ones.
        at = questionEnd;
        for (int i = 0; i < an + ns + ar; i++)
        {
            if (!TryReadName(m, ref at, out _) || at + 10 > m.Length) break;
            ushort rtype = BinaryPrimitives.ReadUInt16BigEndian(m[at..]);
            ushort rclass = BinaryPrimitives.ReadUInt16BigEndian(m[(at + 2)..]);
            ushort rdlen = BinaryPrimitives.ReadUInt16BigEndian(m[(at + 8)..]);
            if (i >= an + ns && rtype == DnsType.Opt) maxUdp = Math.Clamp((int)rclass, 512, 4096);
            at += 10 + rdlen;
        }
        query = new DnsQuery
        {
            Id = id, Flags = flags, Name = name, Type = type, Class = cls,
            Question = message[HeaderLength..questionEnd], MaxUdpSize = maxUdp,
        };
        return true;
    }

    /// <summary>Reads a (possibly compressed) name at <paramref name="at"/>, lower-cased, without the trailing dot.</summary>
    public static bool TryReadName(ReadOnlySpan<byte> m, ref int at, out string name)
    {
        name = "";
        var b = new StringBuilder(32);
        int pos = at, jumps = 0, end = -1;
        while (true)
        {
            if (pos >= m.Length) return false;
            byte len = m[pos];
            if (len == 0)
            {
                pos++;
                break;
            }
            if ((len & 0xc0) == 0xc0)
            {
                if (pos + 1 >= m.Length || ++jumps > 16) return false;
                if (end < 0) end = pos + 2;
                pos = ((len & 0x3f) << 8) | m[pos + 1];
                continue;
            }
            if ((len & 0xc0) != 0 || pos + 1 + len > m.Length) return false;
            if (b.Length > 0) b.Append('.');
            foreach (byte c in m.Slice(pos + 1, len)) b.Append(c is >= (byte)'A' and <= (byte)'Z' ? (char)(c + 32) : (char)c);
            if (b.Length > 253) return false;
            pos += 1 + len;
        }
        at = end >= 0 ? end : pos;
        name = b.ToString();
        return true;
    }

    /// <summary>An answer record: the question's name (by a pointer to it), the type, a TTL, and the data.</summary>
    public readonly record struct Answer(ushort Type, uint Ttl, byte[] Data)
    {
        public static Answer For(IPAddress a, uint ttl) =>
            new(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa, ttl, a.GetAddressBytes());

        public static Answer Ptr(string target, uint ttl) => new(DnsType.Ptr, ttl, EncodeName(target));
    }

    /// <summary>
    /// The response to <paramref name="q"/>: its ID and opcode, QR and RA set, AA when <paramref name="authoritative"/>,
    /// RD copied, the question echoed, and the answers (cut, with TC set, when they do not fit <paramref name="maxSize"/>).
    /// </summary>
    public static byte[] BuildResponse(DnsQuery q, int rcode, IReadOnlyList<Answer> answers, bool authoritative, int maxSize = 65535)
    {
        int size = HeaderLength + q.Question.Length;
        int fit = 0;
        bool truncated = false;
        foreach (var a in answers)
        {
            int n = 2 + 10 + a.Data.Length;
            if (size + n > maxSize) { truncated = true; break; }
            size += n;
            fit++;
        }
        var r = new byte[size];
        var s = r.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(s, q.Id);
        int flags = 0x8000 | (q.Flags & 0x7800) | (q.Flags & 0x0100) | 0x0080 | (rcode & 0xf);
        if (authoritative) flags |= 0x0400;
        if (truncated) flags |= 0x0200;
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(s[4..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(s[6..], (ushort)fit);
        q.Question.Span.CopyTo(s[HeaderLength..]);
        int at = HeaderLength + q.Question.Length;
        for (int i = 0; i < fit; i++)
        {
            var a = answers[i];
            BinaryPrimitives.WriteUInt16BigEndian(s[at..], 0xc000 | HeaderLength); // the question's name
            BinaryPrimitives.WriteUInt16BigEndian(s[(at + 2)..], a.Type);
            BinaryPrimitives.WriteUInt16BigEndian(s[(at + 4)..], 1); // IN
            BinaryPrimitives.WriteUInt32BigEndian(s[(at + 6)..], a.Ttl);
            BinaryPrimitives.WriteUInt16BigEndian(s[(at + 10)..], (ushort)a.Data.Length);
            a.Data.CopyTo(s[(at + 12)..]);
            at += 12 + a.Data.Length;
        }
        return r;
    }

    /// <summary>A bare error answer to a message of which only the header could be read (FORMERR, NOTIMP).</summary>
    public static byte[] BuildHeaderOnly(ReadOnlySpan<byte> request, int rcode)
    {
        var r = new byte[HeaderLength];
        BinaryPrimitives.WriteUInt16BigEndian(r, BinaryPrimitives.ReadUInt16BigEndian(request));
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(request[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(r.AsSpan(2), (ushort)(0x8000 | (flags & 0x7900) | 0x0080 | (rcode & 0xf)));
        return r;
    }

    public static byte[] EncodeName(string name)
    {
        var labels = name.TrimEnd('.').Split('.');
        var b = new byte[labels.Sum(l => l.Length + 1) + 1];
        int at = 0;
        foreach (var l in labels)
        {
            b[at++] = (byte)l.Length;
            at += Encoding.ASCII.GetBytes(l, b.AsSpan(at));
        }
        return b;
    }

    /// <summary>The address a reverse name stands for (<c>4.3.2.1.in-addr.arpa</c>, nibbles under <c>ip6.arpa</c>), or null.</summary>
    public static IPAddress? ReverseAddress(string name)
    {
        if (name.EndsWith(".in-addr.arpa", StringComparison.Ordinal))
        {
            var p = name[..^".in-addr.arpa".Length].Split('.');
            if (p.Length != 4) return null;
            var bytes = new byte[4];
            for (int i = 0; i < 4; i++)
                if (!byte.TryParse(p[3 - i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out bytes[i])) return null;
            return new IPAddress(bytes);
        }
        if (name.EndsWith(".ip6.arpa", StringComparison.Ordinal))
        {
            var p = name[..^".ip6.arpa".Length].Split('.');
            if (p.Length != 32) return null;
            var bytes = new byte[16];
            for (int i = 0; i < 32; i++)
            {
                if (p[i].Length != 1 || !Uri.IsHexDigit(p[i][0])) return null;
                int nibble = Convert.ToInt32(p[i], 16);
                int pos = 31 - i;
                bytes[pos / 2] |= (byte)(pos % 2 == 0 ? nibble << 4 : nibble);
            }
            return new IPAddress(bytes);
        }
        return null;
    }
}
