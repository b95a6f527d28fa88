using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Cni.Etcd.Tests;

/// <summary>
/// A stand-in for etcd's JSON gateway on 127.0.0.1 (plain HTTP/1.1, kept-alive connections): records each request
/// (path, headers, JSON body) and answers with what <see cref="Answer"/> returns (status, body, chunked or not).
/// </summary>
internal sealed class FakeGateway : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Thread _thread;
    private volatile bool _stopped;
    public readonly List<(string Path, Dictionary<string, string> Headers, JsonElement Body)> Requests = [];
    public Func<string, JsonElement, (int Status, string Body, bool Chunked)> Answer = (_, _) => (200, """{"header":{"revision":"7"}}""", false);
    public int Connections;
    /// <summary>
    /// For a streaming request (a watch): the lines to send, in a chunked body, when this returns non-null. Each item is
    /// sent as it is taken (the enumerator may block to hold the stream open); every other line is split across two chunks.
    /// The stream ends (terminating chunk) when the enumeration ends, or the connection drops when it throws.
    /// </summary>
    public Func<string, JsonElement, IEnumerable<string>?>? Stream;
    /// <summary>When set, requests are read and recorded but never answered (a member holding a lost proposal).</summary>
    public volatile bool Hang;

    public FakeGateway()
    {
        _listener.Start();
        _thread = new Thread(Serve) { IsBackground = true };
        _thread.Start();
    }

    public Uri Endpoint => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    private void Serve()
    {
        while (!_stopped)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); } catch { return; }
            Interlocked.Increment(ref Connections);
            new Thread(() => Handle(client)) { IsBackground = true }.Start();
        }
    }

    private void Handle(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        try
        {
            while (true)
            {
                string? line = reader.ReadLine();
                if (line is null) return;
                string path = line.Split(' ')[1];
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                for (string? h = reader.ReadLine(); !string.IsNullOrEmpty(h); h = reader.ReadLine())
                    headers[h[..h.IndexOf(':')]] = h[(h.IndexOf(':') + 1)..].Trim();
                var buf = new char[int.Parse(headers["Content-Length"])];
                reader.ReadBlock(buf, 0, buf.Length);
                var body = JsonDocument.Parse(new string(buf)).RootElement.Clone();
                (int status, string answer, bool chunked) a;
                lock (Requests)
                {
                    Requests.Add((path, headers, body));
                    a = Answer(path, body);
                }
                var lines = Stream?.Invoke(path, body);
                if (lines is not null)
                {
                    stream.Write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"u8);
                    int i = 0;
                    foreach (string l in lines)
                    {
                        var b = Encoding.UTF8.GetBytes(l + "\n");
                        int cut = i++ % 2 == 1 ? b.Length / 2 : b.Length;
                        stream.Write(Encoding.ASCII.GetBytes($"{cut:x}\r\n")); stream.Write(b, 0, cut); stream.Write("\r\n"u8);
                        if (cut < b.Length) { stream.Write(Encoding.ASCII.GetBytes($"{b.Length - cut:x}\r\n")); stream.Write(b, cut, b.Length - cut); stream.Write("\r\n"u8); }
                        stream.Flush();
                    }
                    stream.Write("0\r\n\r\n"u8);
                    stream.Flush();
                    return;
                }
                if (Hang)
                {
                    reader.Peek(); // blocks until the client gives up and closes
                    return;
                }
                var bytes = Encoding.UTF8.GetBytes(a.answer);
                var head = $"HTTP/1.1 {a.status} X\r\nContent-Type: application/json\r\n" +
                    (a.chunked ? "Transfer-Encoding: chunked\r\n\r\n" : $"Content-Length: {bytes.Length}\r\n\r\n");
                stream.Write(Encoding.ASCII.GetBytes(head));
                if (a.chunked)
                {
                    // Two chunks, to cross a chunk boundary inside the JSON.
                    int half = bytes.Length / 2;
                    stream.Write(Encoding.ASCII.GetBytes($"{half:x}\r\n")); stream.Write(bytes, 0, half); stream.Write("\r\n"u8);
                    stream.Write(Encoding.ASCII.GetBytes($"{bytes.Length - half:x}\r\n")); stream.Write(bytes, half, bytes.Length - half); stream.Write("\r\n0\r\n\r\n"u8);
                }
                else stream.Write(bytes);
                stream.Flush();
            }
        }
        catch (IOException) { }
    }

    public void Dispose()
    {
        _stopped = true;
        _listener.Stop();
    }

    /// <summary>A loopback port nothing listens on.</summary>
    public static Uri ClosedEndpoint()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return new Uri($"http://127.0.0.1:{port}");
    }
}
