using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Cni.Etcd;

/// <summary>
/// An etcd v3 client over etcd's JSON gateway (<c>/v3/kv/range</c>, <c>/v3/kv/txn</c>, <c>/v3/lease/grant</c>, ...):
/// HTTP/1.1 requests on one kept-alive TLS connection, synchronous, for short-lived processes. Keys and values
/// travel base64-encoded, 64-bit numbers as strings. Endpoints are tried in order until one answers within the
/// time budget of the call (<see cref="EtcdOptions.Timeout"/>); the one that answered is used first afterwards.
/// A member without a leader refuses at once (the <c>hasleader</c> metadata), so a member cut off from its quorum
/// does not hold a request until etcd's own timeout: the next endpoint is tried.
/// </summary>
public sealed class EtcdClient : IDisposable
{

    private readonly EtcdOptions _options;
    private SslClientAuthenticationOptions? _tls; // made with the first direct connection: a relayed call never loads a certificate
    private Http1Connection? _connection;
    private Http1Connection? _relay;
    private bool _relayOff;
    private string? _identityHeader;
    private int _preferred;
    private string? _token;

    public EtcdClient(EtcdOptions options)
    {
        if (options.Endpoints.Count == 0) throw new ArgumentException("no etcd endpoints", nameof(options));
        if ((options.CertFile is null) != (options.KeyFile is null))
            throw new EtcdSecurityException("certFile and keyFile must be given together");
        _options = options;
        _relayOff = string.IsNullOrEmpty(options.AgentSocket);
        if (options.CaFile is not null) TrustStore.Narrow(options.CaFile);
    }

    /// <summary>The TLS settings of direct connections: the CA and the client certificate, loaded on first use.</summary>
    private SslClientAuthenticationOptions Tls => _tls ??= LoadTls(_options);

    private static SslClientAuthenticationOptions LoadTls(EtcdOptions options)
    {
        var ssl = new SslClientAuthenticationOptions();
        if (options.CaFile is not null)
        {
            var ca = LoadCa(options.CaFile);
            // The configured CA is the only root: SslStream builds the server's chain with this policy and never
            // opens the system trust store (/etc/ssl/certs, ~150 files parsed on every process start otherwise).
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
                DisableCertificateDownloads = true,
            };
            policy.CustomTrustStore.Add(ca);
            ssl.CertificateChainPolicy = policy;
        }
        if (options.CertFile is not null && options.KeyFile is not null)
            ssl.ClientCertificates = [LoadClientCertificate(options.CertFile, options.KeyFile)];
        return ssl;
    }

    /// <summary>True once a call went through sharpcni-agent's relay (for tests and messages).</summary>
    public bool Relayed { get; private set; }

    /// <summary>
    /// What a client changes in its process (OpenSSL's trust store narrowed to the CA file, by setenv): call it on
    /// the main thread before a client is made on another one. The constructor does it too.
    /// </summary>
    public static void PrepareProcess(EtcdOptions options)
    {
        if (options.CaFile is not null) TrustStore.Narrow(options.CaFile);
    }

    /// <summary>
    /// Opens the connection (TCP and TLS) ahead of the first request, to the first endpoint that accepts it within
    /// <paramref name="budget"/> (default: one attempt's share of the timeout); the first request then uses it.
    /// Returns false when no endpoint accepted it in time; the requests try again as usual. TLS errors throw.
    /// </summary>
    public bool Connect(TimeSpan? budget = null)
    {
        long total = (long)_options.Timeout.TotalMilliseconds;
        long deadline = Environment.TickCount64 + (long)(budget?.TotalMilliseconds ?? Math.Max(MinAttemptMilliseconds, total / 4));
        if (OpenRelay(deadline)) return true;
        var endpoints = _options.Endpoints;
        for (int attempt = 0; attempt < endpoints.Count && Environment.TickCount64 < deadline; attempt++)
        {
            int index = (_preferred + attempt) % endpoints.Count;
            try
            {
                _connection?.Dispose();
                _connection = Http1Connection.Open(endpoints[index], Tls, deadline);
                _preferred = index;
                return true;
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                DropConnection();
            }
        }
        return false;
    }

    /// <summary>The endpoint that answered last (for messages).</summary>
    public Uri CurrentEndpoint => _options.Endpoints[_preferred];

    // ------------------------------------------------------------------ KV

    /// <summary>The keys in [key, rangeEnd) (just <paramref name="key"/> when rangeEnd is null), linearizable.</summary>
    public IReadOnlyList<KeyValue> Range(byte[] key, byte[]? rangeEnd = null, long limit = 0, bool keysOnly = false)
    {
        using var doc = Call("/v3/kv/range", w =>
        {
            WriteRange(w, new Op(OpKind.Range, key, rangeEnd, KeysOnly: keysOnly, Limit: limit));
        });
        return ReadKvs(doc.RootElement);
    }

    public KeyValue? Get(string key)
    {
        var kvs = Range(Compare.Utf8(key));
        return kvs.Count > 0 ? kvs[0] : null;
    }

    public IReadOnlyList<KeyValue> GetPrefix(string prefix, bool keysOnly = false) =>
        Range(Compare.Utf8(prefix), Op.PrefixEnd(prefix), keysOnly: keysOnly);

    /// <summary>Writes one key; returns the revision of the write.</summary>
    public long Put(string key, byte[] value, long lease = 0)
    {
        using var doc = Call("/v3/kv/put", w => WritePut(w, Op.Put(key, value, lease)));
        return HeaderRevision(doc.RootElement);
    }

    /// <summary>Deletes [key, rangeEnd); returns how many keys went.</summary>
    public long DeleteRange(byte[] key, byte[]? rangeEnd = null)
    {
        using var doc = Call("/v3/kv/deleterange", w => WriteDelete(w, new Op(OpKind.DeleteRange, key, rangeEnd)));
        return Int64(doc.RootElement, "deleted");
    }

    /// <summary>An atomic transaction: when every compare holds, the success operations run, otherwise the failure ones.</summary>
    public TxnResponse Txn(IReadOnlyList<Compare> compares, IReadOnlyList<Op> success, IReadOnlyList<Op>? failure = null)
    {
        using var doc = Call("/v3/kv/txn", w =>
        {
            w.WriteStartArray("compare");
            foreach (var c in compares) WriteCompare(w, c);
            w.WriteEndArray();
            WriteOps(w, "success", success);
            if (failure is { Count: > 0 }) WriteOps(w, "failure", failure);
        });
        var root = doc.RootElement;
        bool succeeded = root.TryGetProperty("succeeded", out var s) && s.ValueKind == JsonValueKind.True;
        var responses = new List<OpResponse>();
        if (root.TryGetProperty("responses", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var r in list.EnumerateArray())
            {
                if (r.TryGetProperty("response_range", out var range))
                    responses.Add(new OpResponse(OpKind.Range, ReadKvs(range), 0, Bool(range, "more")));
                else if (r.TryGetProperty("response_put", out _))
                    responses.Add(new OpResponse(OpKind.Put, [], 0, false));
                else if (r.TryGetProperty("response_delete_range", out var del))
                    responses.Add(new OpResponse(OpKind.DeleteRange, [], Int64(del, "deleted"), false));
                else
                    throw new EtcdException("etcd answered a transaction with an operation response this client does not know");
            }
        }
        return new TxnResponse(succeeded, HeaderRevision(root), responses);
    }

    // --------------------------------------------------------------- leases

    /// <summary>Grants a lease of <paramref name="ttlSeconds"/>; returns its ID.</summary>
    public long LeaseGrant(long ttlSeconds)
    {
        using var doc = Call("/v3/lease/grant", w => w.WriteString("TTL", ttlSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return Int64(doc.RootElement, "ID");
    }

    /// <summary>Revokes a lease and deletes the keys attached to it.</summary>
    public void LeaseRevoke(long id)
    {
        using var _ = Call("/v3/lease/revoke", w => w.WriteString("ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Renews a lease once; returns its remaining TTL in seconds (0 or less: the lease is gone).</summary>
    public long LeaseKeepAliveOnce(long id)
    {
        using var doc = Call("/v3/lease/keepalive", w => w.WriteString("ID", id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var root = doc.RootElement;
        return root.TryGetProperty("result", out var result) ? Int64(result, "TTL") : Int64(root, "TTL");
    }

    // ---------------------------------------------------------------- watch

    /// <summary>
    /// Watches every key under <paramref name="prefix"/> from <paramref name="startRevision"/> on (etcd sends every change at
    /// or after it, then each new one), on a connection of its own. The first endpoint that creates the watch within the
    /// time budget is used. A start revision the store has compacted gives a watch whose <see cref="EtcdWatch.First"/> (or
    /// next message) is canceled with the compact revision: list again. The watch asks for a member with a leader: a member
    /// that loses its quorum ends it, and the caller watches again (elsewhere).
    /// </summary>
    public EtcdWatch Watch(string prefix, long startRevision)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("create_request");
            w.WriteBase64String("key", Compare.Utf8(prefix));
            w.WriteBase64String("range_end", Op.PrefixEnd(prefix));
            if (startRevision > 0) w.WriteString("start_revision", startRevision.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        byte[] payload = buffer.WrittenSpan.ToArray();
        long deadline = Environment.TickCount64 + (long)_options.Timeout.TotalMilliseconds;
        return OverEndpoints<EtcdWatch>(deadline, "created the watch", (endpoint, attemptDeadline) =>
        {
            var headers = new List<(string, string)>(2) { ("Grpc-Metadata-hasleader", "true") };
            if (_token is not null) headers.Add(("Authorization", _token));
            var connection = Http1Connection.Open(endpoint, Tls, attemptDeadline);
            try
            {
                var (status, errorBody) = connection.PostStreaming("/v3/watch", payload, headers, attemptDeadline);
                if (status != 200)
                {
                    using var doc = JsonDocument.Parse(errorBody ?? "{}"u8.ToArray());
                    return (null, Refused(endpoint, doc, "watch"));
                }
                var line = connection.ReadStreamLine() ?? throw new IOException("etcd ended the watch stream before creating the watch");
                var first = EtcdWatch.Parse(line);
                connection.SetReceiveTimeout(0);
                var watch = new EtcdWatch(connection, first);
                connection = null;
                return (watch, null);
            }
            finally
            {
                connection?.Dispose();
            }
        });
    }

    /// <summary>The store's current revision and the keys under <paramref name="prefix"/> at it (linearizable).</summary>
    public (long Revision, IReadOnlyList<KeyValue> Kvs) List(string prefix)
    {
        using var doc = Call("/v3/kv/range", w => WriteRange(w, new Op(OpKind.Range, Compare.Utf8(prefix), Op.PrefixEnd(prefix))));
        return (HeaderRevision(doc.RootElement), ReadKvs(doc.RootElement));
    }

    /// <summary>A linearizable read of one key: fails unless a quorum of members is up. For health checks.</summary>
    public void CheckQuorum(string key) => Range(Compare.Utf8(key), limit: 1, keysOnly: true);

    public void Dispose()
    {
        _connection?.Dispose();
        _relay?.Dispose();
    }

    // ------------------------------------------------------------ transport

    /// <summary>
    /// POSTs one request body (an object written by <paramref name="body"/>) to the first endpoint that answers,
    /// authenticating first when a user is configured. Within the call's time budget: a refused or unreachable
    /// endpoint, a member without a leader and a request etcd timed out move on to the next endpoint.
    /// </summary>
    private JsonDocument Call(string path, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = _options.JsonEncoder }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        byte[] payload = buffer.WrittenSpan.ToArray();
        long deadline = Environment.TickCount64 + (long)_options.Timeout.TotalMilliseconds;
        if (CallRelay(path, payload, deadline) is { } relayed) return relayed;
        return CallEndpoints(path, payload, deadline).Document;
    }

    /// <summary>
    /// For sharpcni-agent's relay: one request body as a client sent it, to the endpoints within
    /// <paramref name="budgetMilliseconds"/>; the raw body of etcd's answer. Failures throw as for every call.
    /// </summary>
    public byte[] Forward(string path, byte[] payload, long budgetMilliseconds)
    {
        long deadline = Environment.TickCount64 + Math.Clamp(budgetMilliseconds, 1, (long)_options.Timeout.TotalMilliseconds);
        var (doc, bytes) = CallEndpoints(path, payload, deadline);
        doc.Dispose();
        return bytes;
    }

    private (JsonDocument Document, byte[] Bytes) CallEndpoints(string path, byte[] payload, long deadline) =>
        OverEndpoints<(JsonDocument Document, byte[] Bytes)>(deadline, "answered", (endpoint, attemptDeadline) =>
        {
            var bytes = Post(endpoint, path, payload, attemptDeadline, out int status);
            var doc = Parse(endpoint, status, bytes);
            if (status == 200) return ((doc, bytes), null);
            using (doc) return (default, Refused(endpoint, doc, "request"));
        });

    /// <summary>
    /// The attempts of one call: each endpoint once from the preferred one, then again while time remains (a member
    /// may have got its leader back), each within its share of the budget (<see cref="AttemptDeadline"/>),
    /// authenticating first when a user is configured. <paramref name="attempt"/> returns the result, or null and why
    /// this endpoint could not serve (the next one is tried); it throws what must end the call. A refused or
    /// unreachable endpoint moves on; a TLS failure ends the call as a security error.
    /// </summary>
    private T OverEndpoints<T>(long deadline, string failedTo, Func<Uri, long, (T? Result, string? Problem)> attempt)
    {
        var endpoints = _options.Endpoints;
        string? lastProblem = null;
        Exception? lastError = null;
        for (int n = 0; n < 3 * endpoints.Count; n++)
        {
            long remaining = deadline - Environment.TickCount64;
            if (remaining <= 0) break;
            int index = (_preferred + n) % endpoints.Count;
            var endpoint = endpoints[index];
            if (n >= endpoints.Count) Thread.Sleep((int)Math.Min(100, remaining / 2));
            long attemptDeadline = AttemptDeadline(Environment.TickCount64, deadline, (long)_options.Timeout.TotalMilliseconds);
            try
            {
                if (_options.Username is not null && _token is null) _token = Authenticate(endpoint, attemptDeadline);
                var (result, problem) = attempt(endpoint, attemptDeadline);
                if (problem is null)
                {
                    _preferred = index;
                    return result!;
                }
                lastProblem = problem;
            }
            catch (AuthenticationException e)
            {
                DropConnection();
                throw new EtcdSecurityException($"TLS with etcd at {Describe(endpoint)} failed: {TlsProblem(e)}", e);
            }
            catch (EtcdWatchLostException e)
            {
                lastError = e;
                lastProblem = $"{Describe(endpoint)}: {e.Message}";
            }
            catch (SocketException e)
            {
                DropConnection();
                lastError = e;
                lastProblem = $"{Describe(endpoint)}: {SocketProblem(e)}";
            }
            catch (IOException e)
            {
                DropConnection();
                lastError = e;
                lastProblem = $"{Describe(endpoint)}: {IOProblem(e)}";
            }
        }
        throw new EtcdUnavailableException(
            $"etcd unavailable: no endpoint {failedTo} within {_options.Timeout.TotalSeconds:0.###}s (last: {lastProblem ?? "no endpoint tried"})", lastError);
    }

    /// <summary>
    /// An error answer: why to try the next endpoint (a member without a leader, a timed-out request, an expired token:
    /// authenticate again), or an exception for what no other member would answer differently.
    /// </summary>
    private string Refused(Uri endpoint, JsonDocument error, string what)
    {
        var (code, message) = ReadError(error);
        if (code == 16 && _options.Username is not null && _token is not null && message.Contains("token", StringComparison.OrdinalIgnoreCase))
        {
            _token = null; // expired or revoked: authenticate again on the next attempt
            return $"{Describe(endpoint)}: {message}";
        }
        if (IsUnavailable(code, message)) return $"{Describe(endpoint)}: {message}";
        if (code is 7 or 16)
            throw new EtcdSecurityException($"etcd at {Describe(endpoint)} refused the {what}: {message}") { GrpcCode = code };
        throw new EtcdException($"etcd at {Describe(endpoint)}: {message}") { GrpcCode = code };
    }

    // ---------------------------------------------------------------- relay

    /// <summary>The relay's header naming this client's etcd identity (base64 of <see cref="EtcdOptions.Identity"/>).</summary>
    internal const string IdentityHeaderName = "Sharpcni-Etcd-Identity", BudgetHeaderName = "Sharpcni-Budget-Ms";

    /// <summary>What the relay keeps of a call's budget for its answer to travel back.</summary>
    internal const long RelayMarginMilliseconds = 100;

    private bool OpenRelay(long deadline)
    {
        if (_relayOff) return false;
        if (_relay is { Broken: false }) return true;
        try
        {
            _relay?.Dispose();
            _relay = Http1Connection.OpenUnix(_options.AgentSocket!, deadline);
            return true;
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            _relay = null;
            _relayOff = true; // no agent there: straight to etcd from now on
            return false;
        }
    }

    /// <summary>
    /// The call through sharpcni-agent's relay; null when there is none, it does not serve this identity, or it
    /// failed (the call then goes to the endpoints with the budget that is left: every write of cluster-ipam is a
    /// compare-and-swap that its retry re-reads, so a request the agent may have sent cannot apply twice).
    /// </summary>
    private JsonDocument? CallRelay(string path, byte[] payload, long deadline)
    {
        if (!OpenRelay(deadline)) return null;
        int status;
        byte[] bytes;
        try
        {
            _identityHeader ??= Convert.ToBase64String(Encoding.UTF8.GetBytes(_options.Identity));
            long budget = deadline - Environment.TickCount64 - RelayMarginMilliseconds;
            if (budget <= 0) return null;
            var headers = new List<(string, string)>(2)
            {
                (IdentityHeaderName, _identityHeader),
                (BudgetHeaderName, budget.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            };
            (status, bytes) = _relay!.Post(path, payload, headers, deadline);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            _relay?.Dispose();
            _relay = null;
            _relayOff = true;
            return null;
        }
        if (_relay.Broken)
        {
            _relay.Dispose();
            _relay = null;
        }
        if (status == RelayNotServed)
        {
            _relay?.Dispose();
            _relay = null;
            _relayOff = true;
            return null;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException)
        {
            _relayOff = true;
            return null;
        }
        if (status == 200)
        {
            Relayed = true;
            return doc;
        }
        using (doc)
        {
            var (code, message) = ReadError(doc);
            string kind = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("relay", out var k) && k.ValueKind == JsonValueKind.String
                ? k.GetString()! : "";
            Relayed = true;
            message += $" (through sharpcni-agent at {_options.AgentSocket})";
            throw kind switch
            {
                "unavailable" => new EtcdUnavailableException(message),
                "security" => new EtcdSecurityException(message) { GrpcCode = code },
                _ => new EtcdException(message) { GrpcCode = code },
            };
        }
    }

    /// <summary>The relay's answer for an identity it does not serve (HTTP 421, Misdirected Request).</summary>
    internal const int RelayNotServed = 421;

    /// <summary>
    /// The deadline of one attempt. A member can hold a request without answering: a follower whose leader has just
    /// died forwards the proposal into the void and waits for its own request timeout (7 s by default), longer than
    /// the whole budget. So each attempt gets a share of the budget (a quarter of the timeout, at least
    /// <see cref="MinAttemptMilliseconds"/>) while twice that is left, and the last gets what is left.
    /// A request abandoned this way may still commit: every write of cluster-ipam is a compare-and-swap that its
    /// retry re-reads, so a second attempt cannot apply it twice.
    /// </summary>
    internal static long AttemptDeadline(long now, long deadline, long totalMilliseconds)
    {
        long slice = Math.Max(MinAttemptMilliseconds, totalMilliseconds / 4);
        return deadline - now > 2 * slice ? now + slice : deadline;
    }

    internal const long MinAttemptMilliseconds = 750;

    private byte[] Post(Uri endpoint, string path, byte[] payload, long deadline, out int status)
    {
        var headers = new List<(string, string)>(2)
        {
            // grpc-gateway passes Grpc-Metadata-* headers on as gRPC metadata; etcd refuses a request carrying
            // "hasleader" at once when the member has no leader (rpctypes.MetadataRequireLeaderKey).
            ("Grpc-Metadata-hasleader", "true"),
        };
        if (_token is not null && path != "/v3/auth/authenticate") headers.Add(("Authorization", _token));
        byte[] bytes;
        bool reused = _connection is { Broken: false } c && c.Endpoint == endpoint;
        if (!reused)
        {
            _connection?.Dispose();
            _connection = null;
            _connection = Http1Connection.Open(endpoint, Tls, deadline);
        }
        try
        {
            (status, bytes) = _connection!.Post(path, payload, headers, deadline);
        }
        catch (IOException) when (reused && Environment.TickCount64 < deadline)
        {
            // The kept-alive connection was closed by the member since the last request: once more on a new one.
            _connection!.Dispose();
            _connection = Http1Connection.Open(endpoint, Tls, deadline);
            (status, bytes) = _connection.Post(path, payload, headers, deadline);
        }
        if (_connection.Broken)
        {
            _connection.Dispose();
            _connection = null;
        }
        return bytes;
    }

    private static JsonDocument Parse(Uri endpoint, int status, byte[] bytes)
    {
        try
        {
            return JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            string text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 200)).Trim();
            // etcd's gateway refuses, when authentication is on, every client certificate with a CommonName (the
            // CN would name the user on gRPC; on the gateway it is not used, and etcd says so rather than ignore it).
            if (text.Contains("CommonName", StringComparison.Ordinal))
                throw new EtcdSecurityException($"etcd at {Describe(endpoint)} refused the request: {text}; with authentication enabled, " +
                    "etcd's JSON gateway accepts only client certificates without a CommonName (CN): use such a certificate with username/passwordFile");
            throw new EtcdException($"etcd at {Describe(endpoint)} answered HTTP {status}: {text}", e);
        }
    }

    private string Authenticate(Uri endpoint, long deadline)
    {
        string password;
        try
        {
            password = File.ReadAllText(_options.PasswordFile ?? throw new EtcdSecurityException("username is set but passwordFile is not")).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EtcdSecurityException($"cannot read passwordFile {_options.PasswordFile}: {e.GetType().Name}");
        }
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = _options.JsonEncoder }))
        {
            w.WriteStartObject();
            w.WriteString("name", _options.Username);
            w.WriteString("password", password);
            w.WriteEndObject();
        }
        var answer = Post(endpoint, "/v3/auth/authenticate", buffer.WrittenSpan.ToArray(), deadline, out int status);
        using var doc = Parse(endpoint, status, answer);
        if (status != 200)
        {
            var (code, message) = ReadError(doc);
            if (IsUnavailable(code, message)) throw new IOException(message);
            // etcd's message for a wrong user or password names neither.
            throw new EtcdSecurityException($"etcd at {Describe(endpoint)} refused the credentials of user '{_options.Username}': {message}") { GrpcCode = code };
        }
        if (!doc.RootElement.TryGetProperty("token", out var t) || t.GetString() is not { Length: > 0 } token)
            throw new EtcdSecurityException($"etcd at {Describe(endpoint)} gave no token (is authentication enabled?)");
        return token;
    }

    private static bool IsUnavailable(int code, string message) =>
        code is 14 or 4 // Unavailable, DeadlineExceeded
        || message.Contains("no leader", StringComparison.Ordinal)
        || message.Contains("request timed out", StringComparison.Ordinal)
        || message.Contains("leader changed", StringComparison.Ordinal)
        || message.Contains("too many requests", StringComparison.Ordinal);

    private static (int Code, string Message) ReadError(JsonDocument doc)
    {
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return (0, "unreadable error");
        int code = root.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : 0;
        string message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()!
            : root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString()! : "unknown error";
        return (code, message);
    }

    /// <summary>The endpoint without any user information it might carry.</summary>
    private static string Describe(Uri endpoint) => endpoint.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped);

    private void DropConnection()
    {
        _connection?.Dispose();
        _connection = null;
    }

    private static string TlsProblem(AuthenticationException e) =>
        e.InnerException is { } inner && inner.Message.Length > 0
            ? $"{e.Message} ({inner.Message}); check caFile, certFile and keyFile"
            : $"{e.Message}; check caFile, certFile and keyFile";

    private static string SocketProblem(SocketException s) => s.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.TimedOut => "no answer in time",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "unreachable",
        _ => s.Message,
    };

    private static string IOProblem(IOException e)
    {
        if (e.InnerException is SocketException s) return SocketProblem(s);
        // A member that does not accept the client certificate closes the connection right after the handshake.
        return $"{e.Message} (the connection was closed: does etcd accept the client certificate?)";
    }

    // ----------------------------------------------------------------- TLS

    private static X509Certificate2 LoadCa(string path)
    {
        try
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPemFile(path);
            if (collection.Count == 0) throw new EtcdSecurityException($"caFile {path} holds no certificate");
            return collection[0];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new EtcdSecurityException($"cannot read caFile {path}: {e.Message}");
        }
    }

    private static X509Certificate2 LoadClientCertificate(string certFile, string keyFile)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            // The message names the files, never their content.
            throw new EtcdSecurityException($"cannot load the client certificate {certFile} with key {keyFile}: {e.GetType().Name}");
        }
    }

    // ---------------------------------------------------------- JSON shapes

    private static void WriteOps(Utf8JsonWriter w, string name, IReadOnlyList<Op> ops)
    {
        w.WriteStartArray(name);
        foreach (var op in ops)
        {
            w.WriteStartObject();
            switch (op.Kind)
            {
                case OpKind.Range: w.WriteStartObject("request_range"); WriteRange(w, op); w.WriteEndObject(); break;
                case OpKind.Put: w.WriteStartObject("request_put"); WritePut(w, op); w.WriteEndObject(); break;
                case OpKind.DeleteRange: w.WriteStartObject("request_delete_range"); WriteDelete(w, op); w.WriteEndObject(); break;
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteRange(Utf8JsonWriter w, Op op)
    {
        w.WriteBase64String("key", op.Key);
        if (op.RangeEnd is not null) w.WriteBase64String("range_end", op.RangeEnd);
        if (op.Limit > 0) w.WriteString("limit", op.Limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (op.KeysOnly) w.WriteBoolean("keys_only", true);
        if (op.Serializable) w.WriteBoolean("serializable", true);
    }

    private static void WritePut(Utf8JsonWriter w, Op op)
    {
        w.WriteBase64String("key", op.Key);
        w.WriteBase64String("value", op.Value ?? []);
        if (op.Lease != 0) w.WriteString("lease", op.Lease.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static void WriteDelete(Utf8JsonWriter w, Op op)
    {
        w.WriteBase64String("key", op.Key);
        if (op.RangeEnd is not null) w.WriteBase64String("range_end", op.RangeEnd);
    }

    private static void WriteCompare(Utf8JsonWriter w, Compare c)
    {
        w.WriteStartObject();
        w.WriteString("result", c.Result switch
        {
            CompareResult.Equal => "EQUAL",
            CompareResult.Greater => "GREATER",
            CompareResult.Less => "LESS",
            _ => "NOT_EQUAL",
        });
        w.WriteString("target", c.Target switch
        {
            CompareTarget.Version => "VERSION",
            CompareTarget.Create => "CREATE",
            CompareTarget.Mod => "MOD",
            CompareTarget.Value => "VALUE",
            _ => "LEASE",
        });
        w.WriteBase64String("key", c.Key);
        string n = c.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        switch (c.Target)
        {
            case CompareTarget.Version: w.WriteString("version", n); break;
            case CompareTarget.Create: w.WriteString("create_revision", n); break;
            case CompareTarget.Mod: w.WriteString("mod_revision", n); break;
            case CompareTarget.Value: w.WriteBase64String("value", c.Value ?? []); break;
            case CompareTarget.Lease: w.WriteString("lease", n); break;
        }
        w.WriteEndObject();
    }

    private static List<KeyValue> ReadKvs(JsonElement range)
    {
        var list = new List<KeyValue>();
        if (!range.TryGetProperty("kvs", out var kvs) || kvs.ValueKind != JsonValueKind.Array) return list;
        foreach (var kv in kvs.EnumerateArray()) list.Add(ReadKv(kv));
        return list;
    }

    internal static KeyValue ReadKv(JsonElement kv) => new(
        Bytes(kv, "key"), Bytes(kv, "value"),
        Int64(kv, "create_revision"), Int64(kv, "mod_revision"), Int64(kv, "version"), Int64(kv, "lease"));

    private static long HeaderRevision(JsonElement root) =>
        root.TryGetProperty("header", out var h) ? Int64(h, "revision") : 0;

    private static byte[] Bytes(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetBytesFromBase64() : [];

    private static bool Bool(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>An int64 field: a string in proto3 JSON, a number from some gateways, absent when zero.</summary>
    internal static long Int64(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v)) return 0;
        return v.ValueKind switch
        {
            JsonValueKind.String when long.TryParse(v.GetString(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long n) => n,
            JsonValueKind.Number when v.TryGetInt64(out long n) => n,
            _ => throw new EtcdException($"etcd answered a non-integer '{name}'"),
        };
    }
}
