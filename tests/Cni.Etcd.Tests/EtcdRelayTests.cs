using System.Diagnostics;

namespace Cni.Etcd.Tests;

/// <summary>
/// sharpcni-agent's etcd relay between a client and a fake gateway: the client names an identity the relay serves
/// (its endpoints are not reachable from the client, so an answer proves the relay carried it), and falls back to the
/// endpoints when no relay listens, the relay does not serve its identity, or the relay dies.
/// </summary>
public sealed class EtcdRelayTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cni-relay-test").FullName;
    private string Socket => Path.Combine(_dir, "etcd.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private EtcdOptions ClientOptions(Uri endpoint, double timeoutSeconds = 2) => new()
    {
        Endpoints = [endpoint], AgentSocket = Socket, Timeout = TimeSpan.FromSeconds(timeoutSeconds),
    };

    [Fact]
    public void Requests_go_through_the_relay_on_one_connection_and_its_kept_alive_client()
    {
        using var gw = new FakeGateway();
        var options = ClientOptions(FakeGateway.ClosedEndpoint());
        using var relay = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(gw.Endpoint, options.Identity) : null, new StringWriter());
        relay.Start();
        using (var client = new EtcdClient(options))
        {
            Assert.Equal(7, client.Put("/a", [1]));
            client.Get("/a");
            Assert.True(client.Relayed);
        }
        using (var second = new EtcdClient(options)) second.Get("/b");
        Assert.Equal(3, gw.Requests.Count);
        Assert.Equal(1, gw.Connections); // the relay's client kept its connection for the next plugin
        Assert.Equal(3, relay.Served);
        Assert.Equal("true", gw.Requests[0].Headers["Grpc-Metadata-hasleader"]);
    }

    [Fact]
    public void Without_a_relay_or_for_an_identity_it_does_not_serve_the_client_goes_to_etcd_itself()
    {
        using var gw = new FakeGateway();
        using (var alone = new EtcdClient(ClientOptions(gw.Endpoint)))
        {
            alone.Get("/a");
            Assert.False(alone.Relayed);
        }
        using var relay = new EtcdRelay(Socket, _ => null, new StringWriter());
        relay.Start();
        using var client = new EtcdClient(ClientOptions(gw.Endpoint));
        client.Get("/b");
        client.Get("/c");
        Assert.False(client.Relayed);
        Assert.Equal(0, relay.Served);
        Assert.Equal(3, gw.Requests.Count);
    }

    [Fact]
    public void Etcd_unavailable_behind_the_relay_fails_as_unavailable_within_the_clients_timeout()
    {
        var options = ClientOptions(FakeGateway.ClosedEndpoint(), timeoutSeconds: 1);
        using var noLeader = new FakeGateway();
        noLeader.Answer = (_, _) => (503, """{"code":14,"message":"etcdserver: no leader"}""", false);
        using var relay = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(noLeader.Endpoint, options.Identity, 5) : null, new StringWriter());
        relay.Start();
        using var client = new EtcdClient(options);
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<EtcdUnavailableException>(() => client.Put("/k", [1]));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0, 1.3);
        Assert.Contains("no leader", e.Message);
        Assert.Contains("through sharpcni-agent", e.Message);
    }

    [Fact]
    public void A_member_holding_the_request_makes_the_relay_give_up_within_the_clients_budget_not_its_own()
    {
        var options = ClientOptions(FakeGateway.ClosedEndpoint(), timeoutSeconds: 1);
        using var holding = new FakeGateway { Hang = true };
        using var relay = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(holding.Endpoint, options.Identity, 5) : null, new StringWriter());
        relay.Start();
        using var client = new EtcdClient(options);
        var sw = Stopwatch.StartNew();
        Assert.Throws<EtcdUnavailableException>(() => client.Put("/k", [1]));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.5, 1.5);
        Assert.Single(holding.Requests);
    }

    [Fact]
    public void Etcds_own_errors_come_through_the_relay_as_they_are()
    {
        var options = ClientOptions(FakeGateway.ClosedEndpoint());
        using var gw = new FakeGateway();
        gw.Answer = (_, _) => (400, """{"code":3,"message":"etcdserver: too many operations in txn request"}""", false);
        using var relay = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(gw.Endpoint, options.Identity) : null, new StringWriter());
        relay.Start();
        using var client = new EtcdClient(options);
        var e = Assert.Throws<EtcdException>(() => client.Txn([], [Op.Get("/a")]));
        Assert.Equal(3, e.GrpcCode);
        Assert.Contains("too many operations", e.Message);
        gw.Answer = (_, _) => (403, """{"code":7,"message":"etcdserver: permission denied"}""", false);
        Assert.Throws<EtcdSecurityException>(() => client.Get("/a"));
    }

    [Fact]
    public void A_relay_that_dies_hands_the_rest_of_the_calls_to_the_endpoints()
    {
        using var gw = new FakeGateway();
        var options = ClientOptions(gw.Endpoint);
        var relay = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(gw.Endpoint, options.Identity) : null, new StringWriter());
        relay.Start();
        using var client = new EtcdClient(options);
        client.Get("/a");
        Assert.Equal(1, gw.Connections);
        relay.Dispose(); // the agent stops: its connection to the plugin goes with it
        client.Get("/b");
        client.Get("/c");
        Assert.Equal(2, gw.Connections); // the plugin's own, once
        Assert.Equal(3, gw.Requests.Count);
    }

    [Fact]
    public void The_relay_socket_is_private_and_a_live_one_is_not_taken_over()
    {
        using var relay = new EtcdRelay(Socket, _ => null, new StringWriter());
        relay.Start();
        if (OperatingSystem.IsLinux())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Socket));
        Assert.Throws<IOException>(() => new EtcdRelay(Socket, _ => null, new StringWriter()));
    }

    [Fact]
    public void A_stale_socket_file_is_replaced()
    {
        // A killed agent leaves its socket file behind (python exits without unlinking what it bound).
        using (var p = Process.Start("python3", ["-c", $"import socket; s = socket.socket(socket.AF_UNIX); s.bind('{Socket}')"])) p.WaitForExit();
        Assert.True(Path.Exists(Socket));
        using var relay = new EtcdRelay(Socket, _ => null, new StringWriter());
        relay.Start();
    }

    [Fact]
    public void Connections_cut_while_the_relay_stops_or_carrying_garbage_never_end_the_process()
    {
        // A relay stopped while plugins connect: the accepted sockets are already shut down when served.
        for (int i = 0; i < 30; i++)
        {
            var relay = new EtcdRelay(Socket, _ => null, new StringWriter());
            relay.Start();
            var socks = new List<System.Net.Sockets.Socket>();
            for (int j = 0; j < 3; j++)
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                s.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket));
                socks.Add(s);
            }
            relay.Dispose();
            foreach (var s in socks) s.Dispose();
        }
        // Garbage on one connection ends that connection only.
        using var gw = new FakeGateway();
        var options = ClientOptions(FakeGateway.ClosedEndpoint());
        using var served = new EtcdRelay(Socket, id => id == options.Identity ? Reaching(gw.Endpoint, options.Identity) : null, new StringWriter());
        served.Start();
        foreach (var garbage in (string[])["GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n\u0000\u0001",
                     "POST /v3/kv/range HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", "POST /v3/kv/range HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"])
        {
            using var raw = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            raw.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket));
            raw.Send(System.Text.Encoding.ASCII.GetBytes(garbage));
        }
        using var client = new EtcdClient(options);
        client.Get("/a");
        Assert.True(client.Relayed);
        Thread.Sleep(200);
    }

    /// <summary>What the agent would find for the identity: options that reach <paramref name="endpoint"/>.</summary>
    private static EtcdOptions Reaching(Uri endpoint, string identity, double timeoutSeconds = 2) =>
        new() { Endpoints = [endpoint], Timeout = TimeSpan.FromSeconds(timeoutSeconds) };
}
