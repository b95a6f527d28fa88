using System.Text.Json;

namespace Cni.Etcd;

public enum WatchEventType { Put, Delete }

/// <summary>One change of a watched key (mvccpb.Event): for a delete, <see cref="KeyValue.Value"/> is empty.</summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Kv);

/// <summary>
/// One message of a watch stream: events (in revision order), or the news that the watch was canceled. A watch that
/// asked for a revision older than the store keeps is canceled with <see cref="CompactRevision"/> set: the caller lists
/// again and watches from the listed revision.
/// </summary>
public sealed record WatchResponse(long Revision, IReadOnlyList<WatchEvent> Events, bool Created, bool Canceled, long CompactRevision, string? CancelReason)
{
    public bool Compacted => CompactRevision != 0;
}

/// <summary>The watch stream ended or broke (the member went away, lost its leader, the connection closed).</summary>
public sealed class EtcdWatchLostException : EtcdException
{
    public EtcdWatchLostException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// A watch of a key range on its own connection (etcd's <c>/v3/watch</c> through the JSON gateway: a streaming POST whose
/// chunked answer is one JSON object per line). <see cref="Next"/> blocks until the next message; <see cref="Dispose"/>
/// from another thread ends a blocked <see cref="Next"/> with <see cref="EtcdWatchLostException"/>.
/// </summary>
public sealed class EtcdWatch : IDisposable
{
    private readonly Http1Connection _connection;
    private volatile bool _disposed;

    internal EtcdWatch(Http1Connection connection, WatchResponse first)
    {
        _connection = connection;
        First = first;
    }

    /// <summary>The answer that created the watch (or canceled it at once, when the start revision is compacted).</summary>
    public WatchResponse First { get; }

    public Uri Endpoint => _connection.Endpoint;

    /// <summary>The next message; throws <see cref="EtcdWatchLostException"/> when the stream is gone.</summary>
    public WatchResponse Next()
    {
        byte[]? line;
        try
        {
            line = _connection.ReadStreamLine();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or FormatException)
        {
            throw new EtcdWatchLostException(_disposed ? "watch closed" : $"watch on {Endpoint.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped)} lost: {e.Message}", e);
        }
        if (line is null) throw new EtcdWatchLostException("etcd ended the watch stream");
        return Parse(line);
    }

    /// <summary>Reads one line of the stream: <c>{"result": WatchResponse}</c> or <c>{"error": {...}}</c>.</summary>
    internal static WatchResponse Parse(byte[] line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.TryGetProperty("error", out var error))
            {
                string message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "unknown error";
                throw new EtcdWatchLostException($"etcd ended the watch: {message}");
            }
            var r = root.TryGetProperty("result", out var result) ? result : root;
            long revision = r.TryGetProperty("header", out var h) ? EtcdClient.Int64(h, "revision") : 0;
            var events = new List<WatchEvent>();
            if (r.TryGetProperty("events", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in list.EnumerateArray())
                {
                    var type = e.TryGetProperty("type", out var t) && (t.ValueKind == JsonValueKind.String ? t.GetString() == "DELETE" : t.ValueKind == JsonValueKind.Number && t.GetInt32() == 1)
                        ? WatchEventType.Delete : WatchEventType.Put;
                    if (!e.TryGetProperty("kv", out var kv)) continue;
                    events.Add(new WatchEvent(type, EtcdClient.ReadKv(kv)));
                }
            }
            bool created = r.TryGetProperty("created", out var c) && c.ValueKind == JsonValueKind.True;
            bool canceled = r.TryGetProperty("canceled", out var x) && x.ValueKind == JsonValueKind.True;
            long compact = EtcdClient.Int64(r, "compact_revision");
            string? reason = r.TryGetProperty("cancel_reason", out var why) && why.ValueKind == JsonValueKind.String ? why.GetString() : null;
            return new WatchResponse(revision, events, created, canceled || compact != 0, compact, reason);
        }
        catch (JsonException e)
        {
            throw new EtcdWatchLostException("etcd sent an unreadable watch message", e);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _connection.Dispose();
    }
}
