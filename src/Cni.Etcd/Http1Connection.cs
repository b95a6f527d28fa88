using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Cni.Etcd;

/// <summary>
/// One HTTP/1.1 connection to one etcd endpoint (TLS or plain), used synchronously on the calling thread: a
/// blocking socket (<see cref="SocketStream"/>) with a connect deadline, <see cref="SslStream"/>'s synchronous handshake, POST requests with a
/// Content-Length body, responses with Content-Length or chunked bodies, kept alive between requests. A plugin
/// process makes one to three requests on one connection; HttpClient's pool, async state machines and thread-pool
/// threads cost more CPU than the requests themselves (bench/etcd-probe).
/// </summary>
internal sealed class Http1Connection : BufferedLines, IDisposable
{
    private readonly SocketStream _socket;
    private readonly Stream _stream;
    private readonly string _hostHeader;
    protected override Stream Source => _stream;
    protected override string Peer => "etcd";

    public Uri Endpoint { get; }
    public bool Broken { get; private set; }

    private Http1Connection(Uri endpoint, SocketStream socket, Stream stream)
    {
        Endpoint = endpoint;
        _socket = socket;
        _stream = stream;
        _hostHeader = endpoint.IsDefaultPort ? endpoint.IdnHost : $"{endpoint.IdnHost}:{endpoint.Port}";
    }

    /// <summary>Connects (and, for https, completes the TLS handshake) before <paramref name="deadline"/> (Environment.TickCount64).</summary>
    public static Http1Connection Open(Uri endpoint, SslClientAuthenticationOptions? tls, long deadline)
    {
        IPAddress[] addresses = IPAddress.TryParse(endpoint.IdnHost.Trim('[', ']'), out var ip) ? [ip] : Dns.GetHostAddresses(endpoint.IdnHost);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            SocketStream? socket = null;
            try
            {
                socket = SocketStream.Connect(address, endpoint.Port, deadline);
                socket.SetDeadline(deadline);
                Stream stream = socket;
                if (endpoint.Scheme == "https")
                {
                    var ssl = new SslStream(socket, leaveInnerStreamOpen: false);
                    var options = tls ?? new SslClientAuthenticationOptions();
                    options.TargetHost = endpoint.IdnHost.Trim('[', ']');
                    ssl.AuthenticateAsClient(options);
                    stream = ssl;
                }
                return new Http1Connection(endpoint, socket, stream);
            }
            catch (SocketException e)
            {
                socket?.Dispose();
                last = e;
            }
            catch
            {
                socket?.Dispose();
                throw;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>
    /// A plain connection to the stream socket at <paramref name="path"/> (sharpcni-agent's etcd relay); connected or
    /// refused at once.
    /// </summary>
    public static Http1Connection OpenUnix(string path, long deadline)
    {
        var socket = SocketStream.ConnectUnix(path, deadline);
        socket.SetDeadline(deadline);
        return new Http1Connection(RelayEndpoint, socket, socket);
    }

    /// <summary>What <see cref="Endpoint"/> is for a connection to the relay (its Host header, and never an etcd member).</summary>
    public static readonly Uri RelayEndpoint = new("http://sharpcni-agent/");

    public (int Status, byte[] Body) Post(string path, byte[] body, IReadOnlyList<(string Name, string Value)> headers, long deadline)
    {
        try
        {
            SendRequest(path, body, headers, deadline);
            return ReadResponse();
        }
        catch
        {
            Broken = true;
            throw;
        }
    }

    private void SendRequest(string path, byte[] body, IReadOnlyList<(string Name, string Value)> headers, long deadline)
    {
        _socket.SetDeadline(deadline);
        var head = new StringBuilder(256);
        head.Append("POST ").Append(path).Append(" HTTP/1.1\r\nHost: ").Append(_hostHeader)
            .Append("\r\nContent-Type: application/json\r\nContent-Length: ").Append(body.Length).Append("\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        head.Append("\r\n");
        byte[] headBytes = Encoding.ASCII.GetBytes(head.ToString());
        byte[] request = new byte[headBytes.Length + body.Length];
        headBytes.CopyTo(request, 0);
        body.CopyTo(request, headBytes.Length);
        _stream.Write(request);
        _stream.Flush();
    }

    // ------------------------------------------------------------ streaming (watch)

    private bool _streamChunked;
    private long _chunkLeft; // bytes left in the current chunk (chunked), or in the body (Content-Length); -1: until close
    private bool _streamEnded;

    /// <summary>
    /// POSTs a request whose answer is a stream (etcd's /v3/watch: newline-delimited JSON objects in a chunked body).
    /// Returns the status; on 200 the objects are read with <see cref="ReadStreamLine"/>, otherwise the whole (error) body is
    /// returned. The connection is used for nothing else afterwards.
    /// </summary>
    public (int Status, byte[]? ErrorBody) PostStreaming(string path, byte[] body, IReadOnlyList<(string Name, string Value)> headers, long deadline)
    {
        Broken = true; // never handed back for ordinary requests
        SendRequest(path, body, headers, deadline);
        var (status, length, chunked, _) = ReadHead();
        if (status != 200) return (status, ReadBody(length, chunked, out _));
        _streamChunked = chunked;
        _chunkLeft = chunked ? 0 : length;
        return (200, null);
    }

    /// <summary>Sets how long <see cref="ReadStreamLine"/> may block (0: forever).</summary>
    public void SetReceiveTimeout(int milliseconds) => _socket.SetReceiveTimeout(milliseconds);

    /// <summary>The next line of a streamed body (without its newline); null when the stream ended.</summary>
    public byte[]? ReadStreamLine()
    {
        var line = new MemoryStream();
        while (true)
        {
            if (_streamEnded) return line.Length > 0 ? line.ToArray() : null;
            if (_streamChunked && _chunkLeft == 0)
            {
                string size = ReadLine()!;
                if (size.Length == 0) size = ReadLine()!; // the CRLF after the previous chunk's data
                int semi = size.IndexOf(';');
                long n = long.Parse(semi >= 0 ? size.AsSpan(0, semi) : size.AsSpan(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                if (n == 0) { _streamEnded = true; continue; }
                _chunkLeft = n;
            }
            if (!_streamChunked && _chunkLeft == 0) { _streamEnded = true; continue; }
            if (Start == End && !Fill())
            {
                if (!_streamChunked && _chunkLeft < 0) { _streamEnded = true; continue; }
                throw new IOException("etcd closed the connection in the middle of a stream");
            }
            int available = End - Start;
            if (_chunkLeft > 0) available = (int)Math.Min(available, _chunkLeft);
            int nl = Array.IndexOf(Buffer, (byte)'\n', Start, available);
            int take = nl >= 0 ? nl - Start + 1 : available;
            line.Write(Buffer, Start, nl >= 0 ? take - 1 : take);
            Start += take;
            if (_chunkLeft > 0) _chunkLeft -= take;
            if (line.Length > 64 * 1024 * 1024) throw new IOException("etcd streamed a line that is too long");
            if (nl >= 0)
            {
                if (line.Length == 0) continue; // blank separator
                return line.ToArray();
            }
        }
    }

    private (int Status, long Length, bool Chunked, bool Close) ReadHead()
    {
        string statusLine = ReadLine()!;
        // "HTTP/1.1 200 OK"
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1.", StringComparison.Ordinal) ||
            !int.TryParse(statusLine.AsSpan(9, 3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int status))
            throw new IOException("malformed HTTP status line from etcd");
        long length = -1;
        bool chunked = false, close = statusLine.StartsWith("HTTP/1.0", StringComparison.Ordinal);
        for (string line = ReadLine()!; line.Length > 0; line = ReadLine()!)
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var name = line.AsSpan(0, colon).Trim();
            var value = line.AsSpan(colon + 1).Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                length = long.Parse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                close |= value.Equals("close", StringComparison.OrdinalIgnoreCase);
        }
        return (status, length, chunked, close);
    }

    private (int, byte[]) ReadResponse()
    {
        var (status, length, chunked, close) = ReadHead();
        byte[] body = ReadBody(length, chunked, out bool untilClose);
        if (close || untilClose) Broken = true;
        return (status, body);
    }

    private byte[] ReadBody(long length, bool chunked, out bool untilClose)
    {
        untilClose = false;
        byte[] body;
        if (chunked)
        {
            var ms = new MemoryStream();
            while (true)
            {
                string size = ReadLine()!;
                int semi = size.IndexOf(';');
                int n = int.Parse(semi >= 0 ? size.AsSpan(0, semi) : size.AsSpan(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
                if (n == 0)
                {
                    while (ReadLine()!.Length > 0) { } // trailers
                    break;
                }
                var chunk = new byte[n];
                ReadExactly(chunk);
                ms.Write(chunk);
                if (ReadLine()!.Length != 0) throw new IOException("malformed chunk from etcd");
            }
            body = ms.ToArray();
        }
        else if (length >= 0)
        {
            if (length > 64 * 1024 * 1024) throw new IOException("etcd response too large");
            body = new byte[length];
            ReadExactly(body);
        }
        else
        {
            var ms = new MemoryStream();
            while (Fill()) { ms.Write(Buffer, Start, End - Start); Start = End; }
            body = ms.ToArray();
            untilClose = true;
        }
        return body;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
