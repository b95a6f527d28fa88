using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Cni.Etcd.Tests;

public class EtcdClientTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static EtcdClient Client(params Uri[] endpoints) => new(new EtcdOptions { Endpoints = endpoints, Timeout = TimeSpan.FromSeconds(2) });

    [Fact]
    public void Prefix_end_increments_the_last_byte()
    {
        Assert.Equal("/a/c"u8.ToArray(), Op.PrefixEnd("/a/b"));
        Assert.Equal("/sharpcni/ipam/v1/blocks/host10"u8.ToArray(), Op.PrefixEnd("/sharpcni/ipam/v1/blocks/host1/"));
        var absent = Compare.ModRevision("/k", 0); // "absent": create_revision == 0
        Assert.Equal((CompareTarget.Create, CompareResult.Equal, 0L), (absent.Target, absent.Result, absent.Number));
    }

    [Fact]
    public void A_txn_is_written_as_the_gateway_expects_and_its_answer_read()
    {
        using var gw = new FakeGateway();
        gw.Answer = (_, _) => (200, $$$$"""
            {"header":{"revision":"42"},"succeeded":true,"responses":[
             {"response_range":{"kvs":[{"key":"{{{{B64("/k")}}}}","value":"{{{{B64("v")}}}}","create_revision":"3","mod_revision":"9","version":"2"}],"count":"1","more":true}},
             {"response_put":{"header":{}}},{"response_delete_range":{"deleted":"5"}}]}
            """, true);
        using var client = Client(gw.Endpoint);
        var r = client.Txn([Compare.ModRevision("/k", 9), Compare.Absent("/new")],
            [Op.GetPrefix("/p/", keysOnly: true), Op.Put("/k", "v2"u8.ToArray()), Op.Delete("/d")]);
        Assert.True(r.Succeeded);
        Assert.Equal(42, r.Revision);
        Assert.Equal("/k", r.Responses[0].Kvs[0].KeyString);
        Assert.Equal((3L, 9L, 2L), (r.Responses[0].Kvs[0].CreateRevision, r.Responses[0].Kvs[0].ModRevision, r.Responses[0].Kvs[0].Version));
        Assert.True(r.Responses[0].More);
        Assert.Equal(5, r.Responses[2].Deleted);

        var (path, headers, body) = gw.Requests.Single();
        Assert.Equal("/v3/kv/txn", path);
        Assert.Equal("true", headers["Grpc-Metadata-hasleader"]);
        var compare = body.GetProperty("compare");
        Assert.Equal("MOD", compare[0].GetProperty("target").GetString());
        Assert.Equal("EQUAL", compare[0].GetProperty("result").GetString());
        Assert.Equal("9", compare[0].GetProperty("mod_revision").GetString());
        Assert.Equal(B64("/k"), compare[0].GetProperty("key").GetString());
        Assert.Equal("CREATE", compare[1].GetProperty("target").GetString());
        Assert.Equal("0", compare[1].GetProperty("create_revision").GetString());
        var success = body.GetProperty("success");
        Assert.Equal(B64("/p0"), success[0].GetProperty("request_range").GetProperty("range_end").GetString());
        Assert.True(success[0].GetProperty("request_range").GetProperty("keys_only").GetBoolean());
        Assert.Equal(B64("v2"), success[1].GetProperty("request_put").GetProperty("value").GetString());
        Assert.Equal(B64("/d"), success[2].GetProperty("request_delete_range").GetProperty("key").GetString());
    }

    [Fact]
    public void Requests_share_one_kept_alive_connection()
    {
        using var gw = new FakeGateway();
        using var client = Client(gw.Endpoint);
        client.Put("/a", [1]);
        client.Put("/b", [2]);
        client.Get("/a");
        Assert.Equal(3, gw.Requests.Count);
        Assert.Equal(1, gw.Connections);
    }

    [Fact]
    public void A_connection_opened_ahead_is_used_by_the_first_request_and_a_refused_endpoint_is_skipped()
    {
        using var gw = new FakeGateway();
        using var client = Client(FakeGateway.ClosedEndpoint(), gw.Endpoint);
        Assert.True(client.Connect());
        Assert.Empty(gw.Requests);
        client.Put("/a", [1]);
        Assert.Single(gw.Requests);
        Assert.Equal(1, gw.Connections);
        using var none = Client(FakeGateway.ClosedEndpoint());
        Assert.False(none.Connect());
    }

    [Fact]
    public void A_refused_endpoint_and_a_member_without_leader_move_on_to_the_next()
    {
        using var noLeader = new FakeGateway();
        noLeader.Answer = (_, _) => (503, """{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}""", false);
        using var good = new FakeGateway();
        using var client = Client(FakeGateway.ClosedEndpoint(), noLeader.Endpoint, good.Endpoint);
        Assert.Equal(7, client.Put("/k", [1]));
        Assert.Single(noLeader.Requests);
        Assert.Single(good.Requests);
        // The endpoint that answered is asked first from then on.
        client.Put("/k", [2]);
        Assert.Single(noLeader.Requests);
        Assert.Equal(2, good.Requests.Count);
    }

    [Fact]
    public void A_member_that_holds_the_request_is_abandoned_in_time_for_the_next()
    {
        // A follower whose leader just died keeps the request until its own timeout (7 s): the client must not
        // spend its whole budget there.
        using var hanging = new FakeGateway { Hang = true };
        using var good = new FakeGateway();
        using var client = new EtcdClient(new EtcdOptions { Endpoints = [hanging.Endpoint, good.Endpoint], Timeout = TimeSpan.FromSeconds(3) });
        var sw = Stopwatch.StartNew();
        Assert.Equal(7, client.Put("/k", [1]));
        Assert.InRange(sw.Elapsed.TotalMilliseconds, EtcdClient.MinAttemptMilliseconds - 50, 3500);
        Assert.Single(hanging.Requests);
        Assert.Single(good.Requests);
    }

    [Theory]
    [InlineData(3000, 0, 750)]      // a quarter of the budget, at least 750 ms
    [InlineData(3000, 1500, 3000)]  // no room for two more slices: the rest
    [InlineData(10000, 0, 2500)]
    [InlineData(1000, 0, 1000)]     // a short budget is not cut
    public void Each_attempt_gets_a_share_of_the_budget_and_the_last_one_the_rest(long total, long elapsed, long expectedEnd)
    {
        Assert.Equal(expectedEnd, EtcdClient.AttemptDeadline(elapsed, total, total));
    }

    [Fact]
    public void Without_any_member_the_call_fails_as_unavailable_within_the_timeout()
    {
        using var noLeader = new FakeGateway();
        noLeader.Answer = (_, _) => (503, """{"code":14,"message":"etcdserver: no leader"}""", false);
        using var client = new EtcdClient(new EtcdOptions { Endpoints = [FakeGateway.ClosedEndpoint(), noLeader.Endpoint], Timeout = TimeSpan.FromSeconds(1) });
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<EtcdUnavailableException>(() => client.Put("/k", [1]));
        Assert.InRange(sw.Elapsed.TotalSeconds, 0, 1.5);
        Assert.Contains("no endpoint answered within 1s", e.Message);
        Assert.Contains("no leader", e.Message);
    }

    [Fact]
    public void Other_errors_are_reported_with_etcds_message()
    {
        using var gw = new FakeGateway();
        gw.Answer = (_, _) => (400, """{"code":3,"message":"etcdserver: too many operations in txn request"}""", false);
        using var client = Client(gw.Endpoint);
        var e = Assert.Throws<EtcdException>(() => client.Txn([], [Op.Get("/a")]));
        Assert.Contains("too many operations", e.Message);
        Assert.Equal(3, e.GrpcCode);
        gw.Answer = (_, _) => (403, """{"code":7,"message":"etcdserver: permission denied"}""", false);
        Assert.Throws<EtcdSecurityException>(() => client.Get("/a"));
        gw.Answer = (_, _) => (400, "CommonName of client sending a request against gateway will be ignored and not used as expected", false);
        Assert.Contains("without a CommonName", Assert.Throws<EtcdSecurityException>(() => client.Get("/a")).Message);
    }

    [Fact]
    public void Authentication_sends_the_token_and_never_reveals_the_password()
    {
        string dir = Directory.CreateTempSubdirectory("cni-etcd-test").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "pw"), "Top-Secret-1\n");
            using var gw = new FakeGateway();
            gw.Answer = (path, body) => path == "/v3/auth/authenticate"
                ? (body.GetProperty("password").GetString() == "Top-Secret-1" ? (200, """{"token":"tok.123"}""", false)
                    : (400, """{"code":3,"message":"etcdserver: authentication failed, invalid user ID or password"}""", false))
                : (200, """{"header":{"revision":"1"}}""", false);
            using (var client = new EtcdClient(new EtcdOptions { Endpoints = [gw.Endpoint], Username = "cni", PasswordFile = Path.Combine(dir, "pw") }))
                client.Put("/k", [1]);
            Assert.Equal("cni", gw.Requests[0].Body.GetProperty("name").GetString());
            Assert.Equal("tok.123", gw.Requests[1].Headers["Authorization"]);

            File.WriteAllText(Path.Combine(dir, "pw"), "Wrong-Secret-2");
            using var wrong = new EtcdClient(new EtcdOptions { Endpoints = [gw.Endpoint], Username = "cni", PasswordFile = Path.Combine(dir, "pw") });
            var e = Assert.Throws<EtcdSecurityException>(() => wrong.Put("/k", [1]));
            Assert.Contains("refused the credentials of user 'cni'", e.Message);
            Assert.DoesNotContain("Secret", e.ToString());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
