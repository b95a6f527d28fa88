using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Cni.Resolver;

public sealed class ResolverOptions
{
    /// <summary>Where the dnsname plugin writes the names files.</summary>
    public string NamesDirectory { get; init; } = NameStore.DefaultDirectory;
    public string ResolvConf { get; init; } = "/etc/resolv.conf";
    /// <summary>53; tests use another port.</summary>
    public int Port { get; init; } = 53;
    /// <summary>The port of the upstream resolvers: 53; tests use another one.</summary>
    public int UpstreamPort { get; init; } = 53;
    /// <summary>The TTL of local answers: a few seconds at most, so a removed container's name does not linger in caches.</summary>
    public uint Ttl { get; init; } = 2;
    /// <summary>How often the names directory is looked at: a change answers within this (and a file read).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>One budget for a forwarded query across all upstreams, under a client's usual 5 s.</summary>
    public TimeSpan ForwardTimeout { get; init; } = TimeSpan.FromSeconds(4);
    /// <summary>
    /// Called with every resolver address whenever that set changes (and again after it threw): the agent keeps the
    /// firewall's guard of port 53 in step with it (Cni.Firewall.ResolverGuardRules).
    /// </summary>
    public Action<IReadOnlyCollection<IPAddress>>? ResolversChanged { get; init; }
}

/// <summary>
/// The node's resolver for container names: answers A, AAAA and PTR for the names in the dnsname plugin's files on
/// each network's resolver address (its gateway), over UDP and TCP, in the asker's networks' scope, and forwards
/// everything else to the host's resolvers (nothing for internal networks). It looks at the names directory every
/// <see cref="ResolverOptions.PollInterval"/>, swaps in a new <see cref="NameZone"/> when a file changed, and opens
/// or closes the listening sockets as resolver addresses come and go. Hosted by the node agent.
/// </summary>
public sealed class ResolverService : IDisposable
{
    private readonly ResolverOptions _o;
    private readonly Action<string> _log;
    private readonly Upstreams _upstreams;
    private volatile NameZone _zone = NameZone.Empty;
    private readonly Dictionary<IPAddress, Listener> _listeners = [];
    private readonly Dictionary<string, (DateTime, long)> _seen = new(StringComparer.Ordinal);
    private Thread? _poller;
    private volatile bool _stopped;
    private long _answered, _forwarded;

    public ResolverService(ResolverOptions options, Action<string> log)
    {
        _o = options;
        _log = log;
        _upstreams = new Upstreams(options.ResolvConf, log, options.UpstreamPort);
    }

    public NameZone Zone => _zone;
    public long Answered => Interlocked.Read(ref _answered);
    public long Forwarded => Interlocked.Read(ref _forwarded);
    public IReadOnlyCollection<IPAddress> Listening { get { lock (_listeners) return [.. _listeners.Keys]; } }

    public void Start()
    {
        _ = _upstreams.Servers; // logs what it forwards to, or why it cannot
        Poll();
        _poller = new Thread(() =>
        {
            while (!_stopped)
            {
                Thread.Sleep(_o.PollInterval);
                try
                {
                    Poll();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _log($"resolver: reading {_o.NamesDirectory}: {e.Message}");
                }
            }
        }) { IsBackground = true, Name = "names" };
        _poller.Start();
    }

    /// <summary>Reloads the zone when a names file came, went or changed, then reconciles the listeners.</summary>
    public void Poll()
    {
        lock (_pollGate) PollLocked();
    }

    private readonly object _pollGate = new();

    private void PollLocked()
    {
        var now = new Dictionary<string, (DateTime, long)>(StringComparer.Ordinal);
        if (Directory.Exists(_o.NamesDirectory))
        {
            foreach (var f in Directory.EnumerateFiles(_o.NamesDirectory, "*" + NameStore.Extension))
            {
                var info = new FileInfo(f);
                if (info.Exists) now[f] = (info.LastWriteTimeUtc, info.Length);
            }
        }
        bool changed = now.Count != _seen.Count;
        if (!changed)
            foreach (var (f, sig) in now)
                if (!_seen.TryGetValue(f, out var old) || old != sig) { changed = true; break; }
        if (changed)
        {
            var store = new NameStore(_o.NamesDirectory);
            var networks = new List<(string, NetworkNames)>();
            foreach (var network in store.Networks())
                if (store.Read(network) is { } names) networks.Add((network, names));
            _zone = new NameZone(networks);
            _seen.Clear();
            foreach (var kv in now) _seen[kv.Key] = kv.Value;
        }
        Reconcile(_zone.ResolverAddresses);
    }

    private HashSet<IPAddress>? _announced;
    private string? _lastGuardFailure;
    private readonly Dictionary<IPAddress, string> _bindFailures = [];

    private void Reconcile(IReadOnlyCollection<IPAddress> wanted)
    {
        if (_o.ResolversChanged is { } announce && (_announced is null || !_announced.SetEquals(wanted)))
        {
            try
            {
                announce(wanted);
                _announced = [.. wanted];
            }
            catch (Exception e)
            {
                // Tried again at every poll; said again only when the failure changes.
                string line = $"resolver: guarding port 53 of {string.Join(", ", wanted)} failed (trying again): {e.Message}";
                if (line != _lastGuardFailure) _log(line);
                _lastGuardFailure = line;
            }
        }
        lock (_listeners)
        {
            foreach (var a in _listeners.Keys.ToList())
            {
                if (wanted.Contains(a)) continue;
                _listeners[a].Dispose();
                _listeners.Remove(a);
                _log($"resolver: stopped answering on {a}");
            }
            foreach (var a in wanted)
            {
                if (_listeners.ContainsKey(a)) continue;
                try
                {
                    _listeners[a] = new Listener(this, a, _o.Port);
                    _bindFailures.Remove(a);
                    _log($"resolver: answering on {Endpoint(a)} (udp, tcp)");
                }
                catch (SocketException e)
                {
                    // Tried again at every poll; said again only when the failure changes (a port taken by another
                    // resolver stays taken for a while).
                    string line = $"resolver: cannot listen on {Endpoint(a)}: {e.Message}";
                    if (!_bindFailures.TryGetValue(a, out var last) || last != line) _log(line);
                    _bindFailures[a] = line;
                }
            }
        }
    }

    private string Endpoint(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]:{_o.Port}" : $"{a}:{_o.Port}";

    /// <summary>
    /// The answer to one message from <paramref name="asker"/>, or null to stay silent (a response, garbage). Local
    /// names complete at once; a forwarded query completes when an upstream answered or the budget ran out.
    /// </summary>
    internal ValueTask<byte[]?> AnswerAsync(ReadOnlyMemory<byte> message, IPAddress asker, bool tcp)
    {
        var span = message.Span;
        if (!DnsWire.TryParseQuery(message, out var q))
        {
            if (span.Length < DnsWire.HeaderLength || (span[2] & 0x80) != 0) return new((byte[]?)null);
            return new(DnsWire.BuildHeaderOnly(span, DnsRcode.FormErr));
        }
        int max = tcp ? 65535 : q.MaxUdpSize;
        if (q.Opcode != 0) return new(DnsWire.BuildResponse(q, DnsRcode.NotImp, [], false, max));
        var answers = new List<DnsWire.Answer>(2);
        var outcome = q.Class is 1 or 255 ? _zone.Lookup(asker, q.Name, q.Type, answers, _o.Ttl) : LookupOutcome.Forward;
        switch (outcome)
        {
            case LookupOutcome.Local:
                Interlocked.Increment(ref _answered);
                return new(DnsWire.BuildResponse(q, DnsRcode.NoError, answers, true, max));
            case LookupOutcome.NxDomain:
                Interlocked.Increment(ref _answered);
                return new(DnsWire.BuildResponse(q, DnsRcode.NxDomain, [], true, max));
            case LookupOutcome.Refused:
                return new(DnsWire.BuildResponse(q, DnsRcode.Refused, [], false, max));
            default:
                Interlocked.Increment(ref _forwarded);
                return new(Forward(message, q, tcp, max));
        }
    }

    private async Task<byte[]?> Forward(ReadOnlyMemory<byte> message, DnsQuery q, bool tcp, int max) =>
        await _upstreams.ForwardAsync(message, tcp, _o.ForwardTimeout) ?? DnsWire.BuildResponse(q, DnsRcode.ServFail, [], false, max);

    public void Dispose()
    {
        _stopped = true;
        lock (_listeners)
        {
            foreach (var l in _listeners.Values) l.Dispose();
            _listeners.Clear();
        }
    }

    /// <summary>A UDP socket and a TCP listener on one resolver address, each served by its own thread.</summary>
    private sealed class Listener : IDisposable
    {
        private readonly ResolverService _owner;
        private readonly Socket _udp;
        private readonly Socket _tcp;
        private volatile bool _closed;

        public Listener(ResolverService owner, IPAddress address, int port)
        {
            _owner = owner;
            var ep = new IPEndPoint(address, port);
            _udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                FreeBind(_udp, address);
                FreeBind(_tcp, address);
                _tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                _udp.Bind(ep);
                _tcp.Bind(ep);
                _tcp.Listen(64);
            }
            catch
            {
                _udp.Dispose();
                _tcp.Dispose();
                throw;
            }
            new Thread(ServeUdp) { IsBackground = true, Name = $"udp {address}" }.Start();
            new Thread(ServeTcp) { IsBackground = true, Name = $"tcp {address}" }.Start();
        }

        /// <summary>IP_FREEBIND: the gateway address may not be on the bridge yet (or again, after the bridge was remade).</summary>
        private static void FreeBind(Socket s, IPAddress a)
        {
            if (a.AddressFamily == AddressFamily.InterNetwork) s.SetRawSocketOption(0 /* SOL_IP */, 15 /* IP_FREEBIND */, BitConverter.GetBytes(1));
            else s.SetRawSocketOption(41 /* SOL_IPV6 */, 78 /* IPV6_FREEBIND */, BitConverter.GetBytes(1));
        }

        private void ServeUdp()
        {
            var buffer = new byte[4096];
            EndPoint from = new IPEndPoint(_udp.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
            while (!_closed)
            {
                int n;
                try
                {
                    n = _udp.ReceiveFrom(buffer, ref from);
                }
                catch (SocketException) when (!_closed)
                {
                    continue;
                }
                catch (Exception) when (_closed)
                {
                    return;
                }
                var message = buffer.AsSpan(0, n).ToArray();
                var asker = (IPEndPoint)from;
                // Local names are answered on this thread; a forwarded query is sent when its upstream answered,
                // without holding this thread or a pool thread while it waits.
                var answer = _owner.AnswerAsync(message, asker.Address, tcp: false);
                if (answer.IsCompletedSuccessfully) Reply(answer.Result, asker);
                else _ = ReplyLater(answer, asker);
            }
        }

        private async Task ReplyLater(ValueTask<byte[]?> answer, IPEndPoint asker) => Reply(await answer, asker);

        private void Reply(byte[]? answer, IPEndPoint asker)
        {
            try
            {
                if (answer is not null) _udp.SendTo(answer, asker);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // the asker went away, or the listener closed
            }
        }

        private void ServeTcp()
        {
            while (!_closed)
            {
                Socket c;
                try
                {
                    c = _tcp.Accept();
                }
                catch (Exception) when (_closed)
                {
                    return;
                }
                catch (SocketException)
                {
                    continue;
                }
                _ = ServeConnectionAsync(c);
            }
        }

        /// <summary>
        /// One TCP asker: length-prefixed queries answered in turn, asynchronously (a forwarded query waits for its
        /// upstream without holding a thread); 10 s without a complete query or a sent answer ends the connection.
        /// </summary>
        private async Task ServeConnectionAsync(Socket c)
        {
            using var _ = c;
            try
            {
                var asker = ((IPEndPoint)c.RemoteEndPoint!).Address;
                var len = new byte[2];
                while (!_closed)
                {
                    using var idle = new CancellationTokenSource(10_000);
                    if (!await Upstreams.ReadExactlyAsync(c, len, idle.Token)) return;
                    var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
                    if (!await Upstreams.ReadExactlyAsync(c, message, idle.Token)) return;
                    if (await _owner.AnswerAsync(message, asker, tcp: true) is not { } answer) return;
                    var framed = new byte[answer.Length + 2];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                    answer.CopyTo(framed, 2);
                    idle.CancelAfter(10_000);
                    await c.SendAsync(framed, SocketFlags.None, idle.Token);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // the asker closed or timed out
            }
        }

        public void Dispose()
        {
            _closed = true;
            _udp.Dispose();
            _tcp.Dispose();
        }
    }
}
