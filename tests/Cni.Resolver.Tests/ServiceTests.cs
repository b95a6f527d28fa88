using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Cni.Resolver;

namespace Cni.Resolver.Tests;

/// <summary>The resolver on loopback ports: names from a names directory, forwarding to fake upstreams.</summary>
public sealed class ServiceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "resolver-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> _log = [];
    private readonly List<IDisposable> _dispose = [];
    private readonly int _port = FreeUdpPort();
    private readonly int _upstreamPort = FreeUdpPort();

    public ServiceTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        foreach (var d in _dispose) d.Dispose();
        Directory.Delete(_dir, true);
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private ResolverService Start(params string[] upstreams)
    {
        string resolv = Path.Combine(_dir, "resolv.conf");
        File.WriteAllLines(resolv, upstreams.Select(u => $"nameserver {u}"));
        var svc = new ResolverService(new ResolverOptions
        {
            NamesDirectory = Path.Combine(_dir, "names"), ResolvConf = resolv, Port = _port, UpstreamPort = _upstreamPort,
            PollInterval = TimeSpan.FromMilliseconds(50), ForwardTimeout = TimeSpan.FromSeconds(1.5),
        }, l => { lock (_log) _log.Add(l); });
        _dispose.Add(svc);
        svc.Start();
        return svc;
    }

    private void AddName(string id, string name, string ip, params string[] aliases) =>
        new NameStore(Path.Combine(_dir, "names")).Update("net1", n =>
        {
            if (n.Resolvers.Count == 0)
            {
                n.Resolvers.Add(IPAddress.Loopback);
                Subnet.TryParse("127.0.0.0/8", out var s);
                n.Subnets.Add(s);
            }
            n.Entries.RemoveAll(e => e.ContainerId == id);
            if (name.Length > 0) n.Entries.Add(new NameEntry(id, "eth0", name, [IPAddress.Parse(ip)], aliases));
        });

    private static byte[] Query(string name, ushort type, ushort id = 0x1234)
    {
        var q = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        q.AddRange(DnsWire.EncodeName(name));
        q.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
        return [.. q];
    }

    private byte[]? AskUdp(string name, ushort type = DnsType.A, int timeoutMs = 3000)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Connect(new IPEndPoint(IPAddress.Loopback, _port));
        s.Send(Query(name, type));
        if (!s.Poll(TimeSpan.FromMilliseconds(timeoutMs), SelectMode.SelectRead)) return null;
        var b = new byte[4096];
        int n = s.Receive(b);
        return b[..n];
    }

    private byte[] AskTcp(string name, ushort type = DnsType.A)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Connect(new IPEndPoint(IPAddress.Loopback, _port));
        s.ReceiveTimeout = 3000;
        var q = Query(name, type);
        var framed = new byte[q.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)q.Length);
        q.CopyTo(framed, 2);
        s.Send(framed);
        var len = new byte[2];
        using var cancel = new CancellationTokenSource(3000);
        Assert.True(Upstreams.ReadExactlyAsync(s, len, cancel.Token).GetAwaiter().GetResult());
        var r = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
        Assert.True(Upstreams.ReadExactlyAsync(s, r, cancel.Token).GetAwaiter().GetResult());
        return r;
    }

    private static int Rcode(byte[] r) => r[3] & 0xf;
    private static int AnswerCount(byte[] r) => BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(6));

    [Fact]
    public void Names_answer_over_udp_and_tcp_and_follow_the_files_within_a_second()
    {
        AddName("c1", "web", "10.88.0.2", "www");
        Start();
        var r = AskUdp("web")!;
        Assert.Equal(DnsRcode.NoError, Rcode(r));
        Assert.Equal(1, AnswerCount(r));
        Assert.Equal(new byte[] { 10, 88, 0, 2 }, r[^4..]);
        Assert.Equal(1, AnswerCount(AskTcp("www.dns.podman")));

        var clock = Stopwatch.StartNew();
        AddName("c2", "db", "10.88.0.3");
        while (Rcode(AskUdp("db")!) != DnsRcode.NoError && clock.ElapsedMilliseconds < 3000) Thread.Sleep(20);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 1000);

        clock.Restart();
        AddName("c2", "", "");
        while (Rcode(AskUdp("db")!) == DnsRcode.NoError && clock.ElapsedMilliseconds < 3000) Thread.Sleep(20);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 1000);
        Assert.Equal(DnsRcode.NxDomain, Rcode(AskUdp("db.dns.podman")!));
    }

    [Fact]
    public void Other_names_are_forwarded_past_a_dead_upstream_within_the_budget()
    {
        AddName("c1", "web", "10.88.0.2");
        // 127.0.0.3 takes the query and never answers; 127.0.0.4 answers REFUSED; 127.0.0.5 answers.
        using var dead = UpstreamAt("127.0.0.3", _ => null);
        using var refusing = UpstreamAt("127.0.0.4", q => { var a = (byte[])q.Clone(); a[2] |= 0x80; a[3] = (byte)(0x80 | DnsRcode.Refused); return a; });
        using var good = UpstreamAt("127.0.0.5", q =>
        {
            Assert.True(DnsWire.TryParseQuery(q, out var query));
            return DnsWire.BuildResponse(query, DnsRcode.NoError, [DnsWire.Answer.For(IPAddress.Parse("192.0.2.80"), 60)], false);
        });
        Start("127.0.0.3", "127.0.0.4", "127.0.0.5");
        var clock = Stopwatch.StartNew();
        var r = AskUdp("example.org", timeoutMs: 5000);
        Assert.NotNull(r);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 2000);
        Assert.Equal(0x12, r![0]); // the asker's ID, not the one sent upstream
        Assert.Equal(DnsRcode.NoError, Rcode(r));
        Assert.Equal(new byte[] { 192, 0, 2, 80 }, r[^4..]);
    }

    [Fact]
    public void Without_upstreams_forwarded_names_get_SERVFAIL_and_a_log_line_says_why()
    {
        AddName("c1", "web", "10.88.0.2");
        Start();
        Assert.Equal(DnsRcode.ServFail, Rcode(AskUdp("example.org")!));
        lock (_log) Assert.Contains(_log, l => l.Contains("names no nameserver"));
    }

    [Fact]
    public void A_port_taken_by_another_resolver_is_said_once_and_tried_again()
    {
        AddName("c1", "web", "10.88.0.2");
        var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, _port));
        var svc = Start();
        for (int i = 0; i < 5; i++) svc.Poll();
        lock (_log) Assert.Single(_log, l => l.Contains("cannot listen"));
        Assert.Empty(svc.Listening);
        squatter.Dispose();
        svc.Poll();
        Assert.Equal([IPAddress.Loopback], svc.Listening);
        Assert.Equal(DnsRcode.NoError, Rcode(AskUdp("web")!));
    }

    private sealed class FakeUpstream(Socket s, Thread t) : IDisposable
    {
        public void Dispose()
        {
            s.Dispose();
            t.Join(1000);
        }
    }

    private FakeUpstream UpstreamAt(string address, Func<byte[], byte[]?> answer)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Parse(address), _upstreamPort));
        var t = new Thread(() =>
        {
            var b = new byte[4096];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                while (true)
                {
                    int n = s.ReceiveFrom(b, ref from);
                    if (answer(b[..n]) is { } a) s.SendTo(a, from);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        }) { IsBackground = true };
        t.Start();
        return new FakeUpstream(s, t);
    }
}
