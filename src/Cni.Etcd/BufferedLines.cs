using System.Text;

namespace Cni.Etcd;

/// <summary>
/// A read buffer over a stream for HTTP/1.1 framing, shared by the client connection (<see cref="Http1Connection"/>)
/// and the relay's request reader: CRLF- or LF-ended lines and raw bytes, read as they are needed.
/// </summary>
internal abstract class BufferedLines
{
    protected readonly byte[] Buffer = new byte[16 * 1024];
    protected int Start, End;

    /// <summary>The stream read from (its reads block until data, end of stream, or the stream's time-out).</summary>
    protected abstract Stream Source { get; }

    /// <summary>Who is at the other end, for messages ("etcd", "the plugin").</summary>
    protected abstract string Peer { get; }

    /// <summary>Reads more into the buffer; false at the end of the stream.</summary>
    protected bool Fill()
    {
        if (Start == End) Start = End = 0;
        if (End == Buffer.Length)
        {
            if (Start == 0) throw new IOException($"a line too long from {Peer}");
            Array.Copy(Buffer, Start, Buffer, 0, End - Start);
            End -= Start;
            Start = 0;
        }
        int n = Source.Read(Buffer, End, Buffer.Length - End);
        if (n <= 0) return false;
        End += n;
        return true;
    }

    /// <summary>The next line without its line end; null when the stream ends before one starts and <paramref name="endIsFine"/>.</summary>
    protected string? ReadLine(bool endIsFine = false)
    {
        while (true)
        {
            int nl = Array.IndexOf(Buffer, (byte)'\n', Start, End - Start);
            if (nl >= 0)
            {
                int stop = nl > Start && Buffer[nl - 1] == '\r' ? nl - 1 : nl;
                string line = Encoding.ASCII.GetString(Buffer, Start, stop - Start);
                Start = nl + 1;
                return line;
            }
            if (!Fill())
            {
                if (endIsFine && Start == End) return null;
                throw new IOException($"{Peer} closed the connection");
            }
        }
    }

    /// <summary>Copies exactly <paramref name="count"/> bytes into <paramref name="into"/>.</summary>
    protected void ReadExactly(Span<byte> into)
    {
        while (!into.IsEmpty)
        {
            if (Start == End && !Fill()) throw new IOException($"{Peer} closed the connection in the middle of a message");
            int n = Math.Min(into.Length, End - Start);
            Buffer.AsSpan(Start, n).CopyTo(into);
            Start += n;
            into = into[n..];
        }
    }
}
