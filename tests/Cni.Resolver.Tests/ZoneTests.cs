using System.Net;
using Cni.Resolver;

namespace Cni.Resolver.Tests;

public class ZoneTests
{
    private static NetworkNames Net(string subnet, string resolver, bool isInternal, params (string Id, string Name, string Ip, string[] Aliases)[] entries)
    {
        var n = new NetworkNames { Internal = isInternal };
        Assert.True(Subnet.TryParse(subnet, out var s));
        n.Subnets.Add(s);
        n.Resolvers.Add(IPAddress.Parse(resolver));
        foreach (var e in entries)
            n.Entries.Add(new NameEntry(e.Id, "eth0", e.Name, [IPAddress.Parse(e.Ip)], e.Aliases));
        return n;
    }

    private static readonly IPAddress OnA = IPAddress.Parse("10.88.0.50"), OnB = IPAddress.Parse("10.89.0.50"), Stranger = IPAddress.Parse("192.0.2.1");

    private static NameZone Zone() => new([
        ("a", Net("10.88.0.0/16", "10.88.0.1", false, ("c1", "web", "10.88.0.2", ["www"]), ("c2", "web2", "10.88.0.3", ["www"]))),
        ("b", Net("10.89.0.0/16", "10.89.0.1", true, ("c3", "db", "10.89.0.2", []))),
    ]);

    private static (LookupOutcome, List<DnsWire.Answer>) Ask(IPAddress asker, string name, ushort type = DnsType.A)
    {
        var answers = new List<DnsWire.Answer>();
        return (Zone().Lookup(asker, name, type, answers, 2), answers);
    }

    [Fact]
    public void Names_aliases_and_the_domain_answer_on_their_network()
    {
        Assert.Equal(LookupOutcome.Local, Ask(OnA, "web").Item1);
        Assert.Single(Ask(OnA, "web").Item2);
        Assert.Single(Ask(OnA, "web.dns.podman").Item2);
        Assert.Equal(2, Ask(OnA, "www").Item2.Count); // two containers under one alias
        Assert.Equal(2, Ask(OnA, "www.dns.podman").Item2.Count);
    }

    [Fact]
    public void Another_network_cannot_see_them()
    {
        // Network b is internal: nothing is forwarded, an unknown name is NXDOMAIN.
        Assert.Equal(LookupOutcome.NxDomain, Ask(OnB, "web").Item1);
        Assert.Equal(LookupOutcome.Local, Ask(OnB, "db").Item1);
        Assert.Equal(LookupOutcome.Forward, Ask(OnA, "db").Item1);
    }

    [Fact]
    public void Unknown_names_forward_but_the_domain_never_does()
    {
        Assert.Equal(LookupOutcome.Forward, Ask(OnA, "example.org").Item1);
        Assert.Equal(LookupOutcome.NxDomain, Ask(OnA, "nobody.dns.podman").Item1);
    }

    [Fact]
    public void A_name_without_records_of_the_type_is_no_data_not_nxdomain()
    {
        var (outcome, answers) = Ask(OnA, "web", DnsType.Aaaa);
        Assert.Equal(LookupOutcome.Local, outcome);
        Assert.Empty(answers);
    }

    [Fact]
    public void PTR_gives_the_name_under_the_domain()
    {
        var (outcome, answers) = Ask(OnA, "2.0.88.10.in-addr.arpa", DnsType.Ptr);
        Assert.Equal(LookupOutcome.Local, outcome);
        Assert.Equal(DnsWire.EncodeName("web.dns.podman"), Assert.Single(answers).Data);
        Assert.Equal(LookupOutcome.Forward, Ask(OnA, "9.9.9.9.in-addr.arpa", DnsType.Ptr).Item1);
    }

    [Fact]
    public void An_asker_on_no_network_is_refused()
    {
        Assert.Equal(LookupOutcome.Refused, Ask(Stranger, "web").Item1);
    }

    [Fact]
    public void The_file_format_round_trips_and_skips_what_it_cannot_read()
    {
        var n = Net("10.88.0.0/16", "10.88.0.1", true, ("c1", "Web", "10.88.0.2", ["www"]));
        n.Domain = "example.test";
        var text = n.Format() + "entry\tc9\teth0\tbad name\t10.0.0.1\t\nfuture\tline\n";
        var back = NetworkNames.Parse(text);
        Assert.Equal("example.test", back.Domain);
        Assert.True(back.Internal);
        var e = Assert.Single(back.Entries);
        Assert.Equal("web", e.Name);
        Assert.Equal(["www"], e.Aliases);
        Assert.Equal(n.Format().Replace("Web", "web"), back.Format());
    }

    [Theory]
    [InlineData("web", true)]
    [InlineData("web.dns.podman.", true)]
    [InlineData("my_ctr-1", true)]
    [InlineData("", false)]
    [InlineData("a..b", false)]
    [InlineData("a b", false)]
    [InlineData("ü", false)]
    public void Host_names(string name, bool valid) => Assert.Equal(valid, DnsName.IsValid(name));

    [Fact]
    public void The_store_writes_atomically_and_drops_an_empty_network()
    {
        string dir = Path.Combine(Path.GetTempPath(), "names-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new NameStore(dir);
            store.Update("net1", n => n.Entries.Add(new NameEntry("c1", "eth0", "web", [IPAddress.Parse("10.0.0.2")], [])));
            Assert.Equal(["net1"], store.Networks());
            Assert.Single(store.Read("net1")!.Entries);
            Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".tmp"));
            store.Update("net1", n => n.Entries.Clear());
            Assert.Empty(store.Networks());
            Assert.Null(store.Read("net1"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
