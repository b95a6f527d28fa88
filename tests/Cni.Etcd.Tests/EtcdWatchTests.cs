using System.Collections.Concurrent;
using System.Text;

namespace Cni.Etcd.Tests;

public class EtcdWatchTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));
    private static EtcdClient Client(params Uri[] endpoints) => new(new EtcdOptions { Endpoints = endpoints, Timeout = TimeSpan.FromSeconds(2) });

    private const string Created = """{"result":{"header":{"revision":"10"},"created":true}}""";

    [Fact]
    public void A_watch_is_created_from_a_revision_on_a_prefix_and_reads_puts_and_deletes()
    {
        using var gw = new FakeGateway();
        gw.Stream = (path, _) => path != "/v3/watch" ? null :
        [
            Created,
            $$$"""{"result":{"header":{"revision":"11"},"events":[{"kv":{"key":"{{{B64("/p/a")}}}","value":"{{{B64("1")}}}","create_revision":"11","mod_revision":"11","version":"1","lease":"77"}}]}}""",
            $$$"""{"result":{"header":{"revision":"12"},"events":[{"type":"DELETE","kv":{"key":"{{{B64("/p/a")}}}","mod_revision":"12"}}]}}""",
        ];
        using var client = Client(gw.Endpoint);
        using var watch = client.Watch("/p/", 9);
        Assert.True(watch.First.Created);
        var put = watch.Next();
        Assert.Equal(11, put.Revision);
        Assert.Equal(WatchEventType.Put, put.Events.Single().Type);
        Assert.Equal("/p/a", put.Events[0].Kv.KeyString);
        Assert.Equal("1"u8.ToArray(), put.Events[0].Kv.Value);
        Assert.Equal(77, put.Events[0].Kv.Lease);
        var del = watch.Next();
        Assert.Equal(WatchEventType.Delete, del.Events.Single().Type);
        Assert.Empty(del.Events[0].Kv.Value);
        // The stream ended: the watch is lost, and says so.
        Assert.Throws<EtcdWatchLostException>(() => watch.Next());

        var (path, headers, body) = gw.Requests.Single();
        Assert.Equal("/v3/watch", path);
        Assert.Equal("true", headers["Grpc-Metadata-hasleader"]);
        var create = body.GetProperty("create_request");
        Assert.Equal(B64("/p/"), create.GetProperty("key").GetString());
        Assert.Equal(B64("/p0"), create.GetProperty("range_end").GetString());
        Assert.Equal("9", create.GetProperty("start_revision").GetString());
    }

    [Fact]
    public void A_compacted_start_revision_cancels_the_watch_with_the_compact_revision()
    {
        using var gw = new FakeGateway();
        gw.Stream = (_, _) =>
        [
            """{"result":{"header":{"revision":"30"},"created":true}}""",
            """{"result":{"header":{},"canceled":true,"compact_revision":"25"}}""",
        ];
        using var client = Client(gw.Endpoint);
        using var watch = client.Watch("/p/", 3);
        var canceled = watch.Next();
        Assert.True(canceled.Canceled);
        Assert.True(canceled.Compacted);
        Assert.Equal(25, canceled.CompactRevision);
    }

    [Fact]
    public void An_error_in_the_stream_is_a_lost_watch()
    {
        using var gw = new FakeGateway();
        gw.Stream = (_, _) => [Created, """{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"""];
        using var client = Client(gw.Endpoint);
        using var watch = client.Watch("/p/", 0);
        var e = Assert.Throws<EtcdWatchLostException>(() => watch.Next());
        Assert.Contains("no leader", e.Message);
    }

    [Fact]
    public void A_watch_goes_to_the_next_endpoint_when_the_first_is_down_or_has_no_leader()
    {
        using var noLeader = new FakeGateway();
        noLeader.Answer = (_, _) => (503, """{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}""", false);
        using var good = new FakeGateway();
        good.Stream = (_, _) => [Created];
        using var client = Client(FakeGateway.ClosedEndpoint(), noLeader.Endpoint, good.Endpoint);
        using var watch = client.Watch("/p/", 1);
        Assert.True(watch.First.Created);
        Assert.Equal(good.Endpoint, watch.Endpoint);
    }

    [Fact]
    public void Dispose_from_another_thread_ends_a_blocked_Next()
    {
        using var gw = new FakeGateway();
        var release = new ManualResetEventSlim();
        gw.Stream = (_, _) => Hold(release);
        using var client = Client(gw.Endpoint);
        var watch = client.Watch("/p/", 1);
        var outcome = new BlockingCollection<Exception>();
        var reader = new Thread(() =>
        {
            try { watch.Next(); outcome.Add(new Exception("Next returned")); }
            catch (Exception e) { outcome.Add(e); }
        });
        reader.Start();
        Thread.Sleep(200);
        Assert.Empty(outcome); // still blocked: nothing was sent
        watch.Dispose();
        Assert.True(outcome.TryTake(out var error, TimeSpan.FromSeconds(5)));
        Assert.IsType<EtcdWatchLostException>(error);
        release.Set();
    }

    [Fact]
    public void List_returns_the_revision_and_the_keys()
    {
        using var gw = new FakeGateway();
        gw.Answer = (_, _) => (200, $$"""{"header":{"revision":"41"},"kvs":[{"key":"{{B64("/p/x")}}","value":"{{B64("v")}}","mod_revision":"40"}],"count":"1"}""", false);
        using var client = Client(gw.Endpoint);
        var (revision, kvs) = client.List("/p/");
        Assert.Equal(41, revision);
        Assert.Equal("/p/x", kvs.Single().KeyString);
        Assert.Equal("/v3/kv/range", gw.Requests.Single().Path);
    }

    private static IEnumerable<string> Hold(ManualResetEventSlim release)
    {
        yield return Created;
        release.Wait(TimeSpan.FromSeconds(10));
    }
}
