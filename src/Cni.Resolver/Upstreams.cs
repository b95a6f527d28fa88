using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Cni.Resolver;

/// <summary>
/// The host's resolvers, read from resolv.conf (its <c>nameserver</c> lines, at most three, as libc uses them) and read
/// again when the file changes. The agent runs in the host's network namespace, so a loopback resolver such as
/// systemd-resolved's 127.0.0.53 is reached as the host reaches it.
/// </summary>
public sealed class Upstreams(string resolvConf, Action<string> log, int port = 53)
{
    public const int MaxServers = 3;
    private (DateTime, long) _seen = (DateTime.MinValue, -2);
    private IPAddress[] _servers = [];
    private readonly object _gate = new();

    public string ResolvConf { get; } = resolvConf;

    /// <summary>The current servers, re-reading the file when its time stamp or size changed.</summary>
    public IPAddress[] Servers
    {
        get
        {
            lock (_gate)
            {
                (DateTime, long) now;
                try
                {
                    var info = new FileInfo(ResolvConf);
                    now = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
                }
                catch (IOException)
                {
                    now = (DateTime.MinValue, -1);
                }
                if (now == _seen) return _servers;
                _seen = now;
                _servers = Read();
                return _servers;
            }
        }
    }

    private IPAddress[] Read()
    {
        string text;
        try
        {
            text = File.ReadAllText(ResolvConf);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log($"resolver: cannot read {ResolvConf} ({e.Message}): names outside the networks will get SERVFAIL until it can be read");
            return [];
        }
        var list = new List<IPAddress>();
        foreach (var raw in text.Split('\n'))
        {
            var f = raw.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || f[0] != "nameserver") continue;
            string addr = f[1];
            if (!IPAddress.TryParse(addr, out var ip))
            {
                log($"resolver: {ResolvConf}: ignoring the unreadable nameserver \"{addr}\"");
                continue;
            }
            if (list.Count < MaxServers && !list.Contains(ip)) list.Add(ip);
        }
        if (list.Count == 0)
            log($"resolver: {ResolvConf} names no nameserver: names outside the networks will get SERVFAIL until it does");
        else
            log($"resolver: forwarding to {string.Join(", ", list)} (from {ResolvConf})");
        return [.. list];
    }

    /// <summary>
    /// Sends <paramref name="query"/> to the servers in turn within one <paramref name="timeout"/> split across them: a
    /// server that does not answer in its share, or answers SERVFAIL or REFUSED, makes way for the next. Returns the
    /// answer (with the query's ID), or null when none came.
    /// </summary>
    public async Task<byte[]?> ForwardAsync(ReadOnlyMemory<byte> query, bool tcp, TimeSpan timeout)
    {
        var servers = Servers;
        if (servers.Length == 0 || query.Length < DnsWire.HeaderLength) return null;
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(query.Span);
        var clock = Stopwatch.StartNew();
        byte[]? fallback = null;
        for (int i = 0; i < servers.Length; i++)
        {
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero) break;
            var share = left / (servers.Length - i);
            byte[]? answer;
            using var cancel = new CancellationTokenSource(share);
            try
            {
                var server = new IPEndPoint(servers[i], port);
                answer = tcp ? await AskTcpAsync(server, query, cancel.Token) : await AskUdpAsync(server, query, cancel.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                answer = null; // silent in its share, refused (ICMP port unreachable), or unreachable
            }
            if (answer is null || answer.Length < DnsWire.HeaderLength) continue;
            BinaryPrimitives.WriteUInt16BigEndian(answer, id);
            int rcode = answer[3] & 0xf;
            if (rcode is DnsRcode.ServFail or DnsRcode.Refused)
            {
                fallback ??= answer;
                continue;
            }
            return answer;
        }
        return fallback;
    }

    /// <summary>One UDP exchange from a fresh socket (a fresh source port) with a fresh random ID.</summary>
    private static async Task<byte[]?> AskUdpAsync(IPEndPoint server, ReadOnlyMemory<byte> query, CancellationToken cancel)
    {
        using var s = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await s.ConnectAsync(server, cancel);
        var q = query.ToArray();
        ushort id = (ushort)Random.Shared.Next(0, 65536);
        BinaryPrimitives.WriteUInt16BigEndian(q, id);
        await s.SendAsync(q, SocketFlags.None, cancel);
        var buffer = new byte[4096];
        while (true)
        {
            int n = await s.ReceiveAsync(buffer, SocketFlags.None, cancel);
            if (n >= DnsWire.HeaderLength && BinaryPrimitives.ReadUInt16BigEndian(buffer) == id) return buffer[..n];
        }
    }

    private static async Task<byte[]?> AskTcpAsync(IPEndPoint server, ReadOnlyMemory<byte> query, CancellationToken cancel)
    {
        using var s = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(server, cancel);
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed.AsMemory(2));
        await s.SendAsync(framed, SocketFlags.None, cancel);
        var len = new byte[2];
        if (!await ReadExactlyAsync(s, len, cancel)) return null;
        var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
        return await ReadExactlyAsync(s, answer, cancel) ? answer : null;
    }

    internal static async Task<bool> ReadExactlyAsync(Socket s, Memory<byte> buffer, CancellationToken cancel)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = await s.ReceiveAsync(buffer[got..], SocketFlags.None, cancel);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }
}
