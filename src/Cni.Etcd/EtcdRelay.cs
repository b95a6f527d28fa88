using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Cni.Etcd;

/// <summary>
/// sharpcni-agent's etcd relay: a Unix stream socket (mode 0600, so only root reaches it, as only root reads the client
/// key) on which plugins send their etcd requests as plain HTTP/1.1, to be carried on the agent's kept-alive TLS
/// connections. A plugin process otherwise pays the TLS set-up with every call (loading the certificates, OpenSSL's
/// initialisation and the handshake: most of its CPU), since a TLS session cannot outlive its process.
/// <para>
/// A request names its etcd identity (<see cref="EtcdOptions.Identity"/>, base64, in a header) and its remaining budget.
/// The relay serves only identities <see cref="Resolve"/> knows (those of the node's configuration), with clients made
/// from its own reading of the same options, so a request reaches etcd with the very certificate and user it would have
/// used directly; any other identity gets 421 and the plugin goes to etcd itself. Only the key-value and lease paths
/// are relayed. Errors come back as JSON <c>{"code","message","relay"}</c>, where "relay" says unavailable, security or
/// error. Certificates that change on disk (rotation) give new clients.
/// </para>
/// </summary>
public sealed partial class EtcdRelay : IDisposable
{
    private static readonly HashSet<string> Paths =
    [
        "/v3/kv/range", "/v3/kv/txn", "/v3/kv/put", "/v3/kv/deleterange",
        "/v3/lease/grant", "/v3/lease/revoke", "/v3/lease/keepalive",
    ];

    private const int MaxBody = 4 * 1024 * 1024;

    private readonly string _path;
    private readonly Func<string, EtcdOptions?> _resolve;
    private readonly TextWriter _log;
    private readonly Socket _listener;
    private readonly ConcurrentDictionary<string, Pool> _pools = new(StringComparer.Ordinal);
    private volatile bool _stopped;
    private long _served;
    private readonly ConcurrentDictionary<Socket, bool> _open = new();

    /// <summary>How many requests were relayed to etcd (answered or not).</summary>
    public long Served => Interlocked.Read(ref _served);

    /// <param name="path">The socket's path; a stale socket file there is replaced, a live one (another agent) is not.</param>
    /// <param name="resolve">The options for an identity this node's configuration names, else null (called again for
    /// an unknown identity at most once a second, so a network configured later is served without a restart).</param>
    public EtcdRelay(string path, Func<string, EtcdOptions?> resolve, TextWriter log)
    {
        _path = path;
        _resolve = resolve;
        _log = log;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            Bind(path);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            // A socket file is there: another agent's (refuse), or one a killed agent left (replace it).
            if (IsListening(path))
            {
                _listener.Dispose();
                throw new IOException($"another process serves {path}");
            }
            File.Delete(path);
            Bind(path);
        }
        _listener.Listen(64);
    }

    private void Bind(string path)
    {
        var mask = umask(0x7f); // 0177 while binding: the socket file is made 0600
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(path));
        }
        finally
        {
            umask(mask);
        }
    }

    private static bool IsListening(string path)
    {
        try
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Start()
    {
        new Thread(Accept) { IsBackground = true, Name = "etcd-relay" }.Start();
    }

    private void Accept()
    {
        while (!_stopped)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception) when (_stopped) { return; }
            catch (SocketException e)
            {
                _log.WriteLine($"etcd relay: accept failed: {e.Message}");
                Thread.Sleep(100);
                continue;
            }
            catch (Exception e)
            {
                // The plugins go to etcd themselves from now on; the agent's other work goes on.
                _log.WriteLine($"etcd relay: stopped accepting on {e.GetType().Name}: {e.Message}");
                return;
            }
            new Thread(() => Serve(client)) { IsBackground = true, Name = "etcd-relay-conn" }.Start();
        }
    }

    /// <summary>
    /// One plugin's connection: its requests in turn. Nothing that happens here may end the agent: a connection the
    /// plugin (or the relay's shutdown) closed ends quietly, anything else is logged and ends the connection, and the
    /// plugin then goes to etcd itself.
    /// </summary>
    private void Serve(Socket socket)
    {
        _open[socket] = true;
        try
        {
            if (_stopped) return;
            using var stream = new NetworkStream(socket, ownsSocket: false);
            var reader = new RequestReader(stream);
            while (!_stopped && reader.Next() is { } request)
            {
                var (status, body) = Handle(request);
                var head = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Error")}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
                var response = new byte[head.Length + body.Length];
                head.CopyTo(response, 0);
                body.CopyTo(response, head.Length);
                stream.Write(response);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // the plugin went away, the relay is stopping, or it sent something that is not a request: nothing to answer
        }
        catch (Exception e)
        {
            try { _log.WriteLine($"etcd relay: a connection ended on {e.GetType().Name}: {e.Message}"); }
            catch (Exception) { /* the log is gone too: nothing else to do */ }
        }
        finally
        {
            _open.TryRemove(socket, out _);
            socket.Dispose();
        }
    }

    internal (int Status, byte[] Body) Handle(RelayRequest request)
    {
        if (!Paths.Contains(request.Path)) return Error(404, "unknown", $"the relay does not serve {request.Path}");
        if (request.Identity is null) return Error(EtcdClient.RelayNotServed, "unknown", "no identity");
        var pool = PoolFor(request.Identity);
        if (pool is null) return Error(EtcdClient.RelayNotServed, "unknown", "this node's configuration names no such etcd identity");
        Interlocked.Increment(ref _served);
        EtcdClient? client = null;
        bool keep = true;
        try
        {
            client = pool.Take();
            return (200, client.Forward(request.Path, request.Body, request.BudgetMilliseconds));
        }
        catch (EtcdUnavailableException e)
        {
            keep = false;
            return Error(503, "unavailable", e.Message, 14);
        }
        catch (EtcdSecurityException e)
        {
            keep = false;
            return Error(403, "security", e.Message, e.GrpcCode);
        }
        catch (EtcdException e)
        {
            return Error(400, "error", e.Message, e.GrpcCode);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            keep = false;
            return Error(503, "unavailable", $"etcd unavailable: {e.Message}", 14);
        }
        finally
        {
            if (client is not null)
            {
                if (keep) pool.Return(client);
                else client.Dispose();
            }
        }
    }

    private static (int, byte[]) Error(int status, string kind, string message, int code = 0)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("code", code);
            w.WriteString("message", message);
            w.WriteString("relay", kind);
            w.WriteEndObject();
        }
        return (status, buffer.WrittenSpan.ToArray());
    }

    // ---------------------------------------------------------------- clients

    private readonly ConcurrentDictionary<string, long> _misses = new(StringComparer.Ordinal);

    private Pool? PoolFor(string identity)
    {
        if (_pools.TryGetValue(identity, out var pool))
        {
            if (pool.Stamp == Stamp(pool.Options)) return pool;
            _log.WriteLine("etcd relay: credential files changed on disk: new connections");
            _pools.TryRemove(identity, out _);
            pool.Dispose();
        }
        else if (_misses.TryGetValue(identity, out long missed) && Environment.TickCount64 - missed < 1000)
        {
            return null;
        }
        var options = _resolve(identity);
        if (options is null)
        {
            if (_misses.Count > 1000) _misses.Clear();
            _misses[identity] = Environment.TickCount64;
            return null;
        }
        _misses.TryRemove(identity, out _);
        // The relay's own clients go to etcd directly, whatever the options say.
        options = new EtcdOptions
        {
            Endpoints = options.Endpoints, CaFile = options.CaFile, CertFile = options.CertFile, KeyFile = options.KeyFile,
            Username = options.Username, PasswordFile = options.PasswordFile, Timeout = options.Timeout, JsonEncoder = options.JsonEncoder,
        };
        var fresh = new Pool(options, Stamp(options));
        return _pools.GetOrAdd(identity, fresh);
    }

    /// <summary>When and how large each credential file is: a change on disk makes new clients.</summary>
    private static string Stamp(EtcdOptions o)
    {
        var sb = new StringBuilder();
        foreach (var f in (string?[])[o.CaFile, o.CertFile, o.KeyFile, o.PasswordFile])
        {
            if (f is null) continue;
            var info = new FileInfo(f);
            sb.Append(info.Exists ? $"{info.LastWriteTimeUtc.Ticks}:{info.Length};" : "-;");
        }
        return sb.ToString();
    }

    private sealed class Pool(EtcdOptions options, string stamp) : IDisposable
    {
        private readonly ConcurrentBag<EtcdClient> _idle = [];
        public EtcdOptions Options { get; } = options;
        public string Stamp { get; } = stamp;
        private volatile bool _disposed;

        public EtcdClient Take() => _idle.TryTake(out var c) ? c : new EtcdClient(Options);

        public void Return(EtcdClient client)
        {
            if (_disposed || _idle.Count >= 16) { client.Dispose(); return; }
            _idle.Add(client);
        }

        public void Dispose()
        {
            _disposed = true;
            while (_idle.TryTake(out var c)) c.Dispose();
        }
    }

    public void Dispose()
    {
        _stopped = true;
        try { _listener.Dispose(); } catch (SocketException) { }
        try { File.Delete(_path); } catch (IOException) { }
        foreach (var socket in _open.Keys)
        {
            try { socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }
        foreach (var pool in _pools.Values) pool.Dispose();
    }

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial uint umask(uint mask);

    // ---------------------------------------------------------------- requests

    internal sealed record RelayRequest(string Path, string? Identity, long BudgetMilliseconds, byte[] Body);

    /// <summary>HTTP/1.1 requests with Content-Length bodies, one after another on a kept-alive connection.</summary>
    internal sealed class RequestReader(Stream stream) : BufferedLines
    {
        protected override Stream Source => stream;
        protected override string Peer => "the plugin";

        public RelayRequest? Next()
        {
            string? line = ReadLine(endIsFine: true);
            if (line is null) return null;
            var parts = line.Split(' ');
            if (parts.Length != 3 || parts[0] != "POST" || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
                throw new IOException("not an HTTP/1.1 POST");
            string? identity = null;
            long budget = 5000, length = -1;
            for (string h = ReadLine()!; h.Length > 0; h = ReadLine()!)
            {
                int colon = h.IndexOf(':');
                if (colon <= 0) continue;
                string name = h[..colon].Trim(), value = h[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    length = long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long l) ? l : -1;
                else if (name.Equals(EtcdClient.IdentityHeaderName, StringComparison.OrdinalIgnoreCase))
                {
                    try { identity = Encoding.UTF8.GetString(Convert.FromBase64String(value)); }
                    catch (FormatException) { identity = null; }
                }
                else if (name.Equals(EtcdClient.BudgetHeaderName, StringComparison.OrdinalIgnoreCase) &&
                         long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long b))
                    budget = Math.Clamp(b, 1, 300_000);
            }
            if (length < 0 || length > MaxBody) throw new IOException("a request without a usable Content-Length");
            var body = new byte[length];
            ReadExactly(body);
            return new RelayRequest(parts[1], identity, budget, body);
        }
    }
}
