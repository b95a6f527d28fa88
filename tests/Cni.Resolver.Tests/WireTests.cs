using System.Net;
using Cni.Resolver;

namespace Cni.Resolver.Tests;

public class WireTests
{
    // Captured from busybox 1.35's nslookup (Debian's busybox-static) sending to a UDP socket.
    private const string BusyboxA = "3a50010000010000000000000377656203646e7306706f646d616e0000010001";
    private const string BusyboxPtr = "b58f010000010000000000000137013002383802313007696e2d61646472046172706100000c0001";

    private static byte[] Hex(string s) => Convert.FromHexString(s);

    [Fact]
    public void A_captured_A_query_is_read()
    {
        Assert.True(DnsWire.TryParseQuery(Hex(BusyboxA), out var q));
        Assert.Equal(0x3a50, q.Id);
        Assert.Equal("web.dns.podman", q.Name);
        Assert.Equal(DnsType.A, q.Type);
        Assert.Equal(1, q.Class);
        Assert.True(q.RecursionDesired);
        Assert.Equal(512, q.MaxUdpSize);
    }

    [Fact]
    public void A_captured_PTR_query_names_its_address()
    {
        Assert.True(DnsWire.TryParseQuery(Hex(BusyboxPtr), out var q));
        Assert.Equal(DnsType.Ptr, q.Type);
        Assert.Equal(IPAddress.Parse("10.88.0.7"), DnsWire.ReverseAddress(q.Name));
    }

    [Fact]
    public void The_answer_to_the_captured_query_is_byte_exact()
    {
        Assert.True(DnsWire.TryParseQuery(Hex(BusyboxA), out var q));
        var r = DnsWire.BuildResponse(q, DnsRcode.NoError, [DnsWire.Answer.For(IPAddress.Parse("10.88.0.7"), 2)], authoritative: true);
        // id 3a50; flags 8580 (QR, AA, RD, RA); 1 question, 1 answer; the question; c00c A IN ttl 2 len 4 10.88.0.7
        Assert.Equal("3a50858000010001000000000377656203646e7306706f646d616e0000010001" + "c00c000100010000000200040a580007",
            Convert.ToHexString(r).ToLowerInvariant());
    }

    [Fact]
    public void Answers_that_do_not_fit_are_cut_with_TC()
    {
        Assert.True(DnsWire.TryParseQuery(Hex(BusyboxA), out var q));
        var many = Enumerable.Range(1, 40).Select(i => DnsWire.Answer.For(IPAddress.Parse($"10.0.0.{i}"), 2)).ToList();
        var r = DnsWire.BuildResponse(q, DnsRcode.NoError, many, true, 512);
        Assert.True(r.Length <= 512);
        Assert.Equal(0x02, r[2] & 0x02);
        Assert.Equal((512 - 32) / 16, r[7]);
    }

    [Fact]
    public void An_EDNS_OPT_record_raises_the_udp_size()
    {
        // The busybox query with ARCOUNT 1 and an OPT record: root name, type 41, class 1232 (UDP size), ttl 0, rdlen 0.
        var m = Hex(BusyboxA.Remove(20, 4).Insert(20, "0001") + "00" + "0029" + "04d0" + "00000000" + "0000");
        Assert.True(DnsWire.TryParseQuery(m, out var q));
        Assert.Equal(1232, q.MaxUdpSize);
    }

    [Theory]
    [InlineData("")]
    [InlineData("3a50")]
    [InlineData("3a50010000020000000000000377656203646e7306706f646d616e0000010001")] // two questions announced
    [InlineData("3a50810000010000000000000377656203646e7306706f646d616e0000010001")] // a response
    [InlineData("3a5001000001000000000000c00c00010001")]                             // a pointer to itself
    [InlineData("3a500100000100000000000003776562")]                                 // cut in the name
    public void Malformed_messages_are_not_queries(string hex)
    {
        Assert.False(DnsWire.TryParseQuery(Hex(hex), out _));
    }

    [Fact]
    public void Reverse_names_of_IPv6_addresses()
    {
        var a = IPAddress.Parse("fd00::1:7");
        string name = string.Join('.', Convert.ToHexString(a.GetAddressBytes()).ToLowerInvariant().Reverse()) + ".ip6.arpa";
        Assert.Equal(a, DnsWire.ReverseAddress(name));
        Assert.Null(DnsWire.ReverseAddress("1.2.3.in-addr.arpa"));
        Assert.Null(DnsWire.ReverseAddress("x.0.88.10.in-addr.arpa"));
    }
}
