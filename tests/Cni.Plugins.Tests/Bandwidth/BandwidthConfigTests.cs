using System.Text;
using Cni.Plugins.Bandwidth;
using Cni.Spec;

namespace Cni.Plugins.Tests.Bandwidth;

public class BandwidthConfigTests
{
    private static BandwidthConfig Parse(string json) => BandwidthConfig.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void The_capability_as_containerd_sends_it_with_Go_cased_keys_reads_as_the_canonical_keys()
    {
        // containerd's go-cni BandWidth struct has no JSON tags: this is the bytes it writes into runtimeConfig.
        var goCased = Parse("""
            {"cniVersion":"1.0.0","name":"k3s","type":"bandwidth","capabilities":{"bandwidth":true},
             "runtimeConfig":{"bandwidth":{"IngressRate":1000000,"IngressBurst":80000,"EgressRate":2000000,"EgressBurst":160000}}}
            """).Effective();
        var canonical = Parse("""
            {"cniVersion":"1.0.0","name":"k3s","type":"bandwidth","capabilities":{"bandwidth":true},
             "runtimeConfig":{"bandwidth":{"ingressRate":1000000,"ingressBurst":80000,"egressRate":2000000,"egressBurst":160000}}}
            """).Effective();
        Assert.Equal(new BandwidthEntry(1000000, 80000, 2000000, 160000), goCased);
        Assert.Equal(canonical, goCased);
    }

    [Fact]
    public void Top_level_fields_win_over_the_capability_when_any_is_present()
    {
        var c = Parse("""
            {"name":"n","ingressRate":0,"runtimeConfig":{"bandwidth":{"ingressRate":8,"ingressBurst":8}}}
            """);
        Assert.Equal(new BandwidthEntry(0, 0, 0, 0), c.Effective());
        Assert.True(c.Effective()!.IsZero);
        var only = Parse("""{"name":"n","runtimeConfig":{"Bandwidth":{"egressRate":800,"egressBurst":80}}}""");
        Assert.Equal(new BandwidthEntry(0, 0, 800, 80), only.Effective());
        Assert.Null(Parse("""{"name":"n"}""").Effective());
        Assert.Null(Parse("""{"name":"n","runtimeConfig":{"bandwidth":null}}""").Effective());
    }

    [Theory]
    [InlineData("""{"ingressRate":1000}""", "if rate is set, burst must also be set")]
    [InlineData("""{"egressBurst":1000}""", "if burst is set, rate must also be set")]
    [InlineData("""{"ingressRate":1000,"ingressBurst":34359738360}""", "burst cannot be more than 4GB")]
    public void Validation_is_the_reference_s(string fields, string message)
    {
        var e = Assert.Throws<CniException>(() => Parse(fields).Effective());
        Assert.Equal(ErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData("""{"ingressRate":-1}""")]
    [InlineData("""{"ingressRate":1.5}""")]
    [InlineData("""{"ingressRate":"1000"}""")]
    public void Values_Go_cannot_decode_into_uint64_are_decoding_errors(string fields)
    {
        var e = Assert.Throws<CniException>(() => Parse(fields));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
    }

    [Fact]
    public void A_burst_just_under_4GB_is_accepted()
    {
        var e = Parse("""{"ingressRate":1000,"ingressBurst":34359738352}""").Effective();
        Assert.Equal(34359738352UL, e!.IngressBurst);
    }
}

public class TokenBucketTests
{
    [Fact]
    public void Ticks_per_microsecond_from_proc_net_psched_as_the_reference_reads_it()
    {
        Assert.Equal(15.625, TokenBucket.TicksPerMicrosecond("000003e8 00000040 000f4240 3b9aca00\n"));
        // The compatibility case (clock resolution 1e9): t2us takes us2t's value.
        Assert.Equal(1.0 * 1000, TokenBucket.TicksPerMicrosecond("00000001 00000001 3b9aca00 3b9aca00"));
    }

    [Theory]
    // rate bits/s, burst bits -> bytes/s, limit bytes (25 ms at the rate + burst), buffer ticks (burst/rate s * 15.625 per µs)
    [InlineData(1_000_000UL, 80_000UL, 125_000UL, 3_125u + 10_000u, 1_250_000u)]
    [InlineData(100_000_000UL, 100_000_000UL, 12_500_000UL, 312_500u + 12_500_000u, 15_625_000u)]
    [InlineData(8UL, 8UL, 1UL, 1u, 15_625_000u)]
    public void Parameters_are_the_reference_s(ulong rate, ulong burst, ulong bytes, uint limit, uint buffer)
    {
        var t = TokenBucket.For(rate, burst, 15.625);
        Assert.Equal(bytes, t.RateBytesPerSecond);
        Assert.Equal(limit, t.LimitBytes);
        Assert.Equal(buffer, t.BufferTicks);
    }

    [Fact]
    public void Rates_above_32_bits_of_bytes_keep_their_64_bit_value()
    {
        var t = TokenBucket.For(100_000_000_000UL, 1_000_000UL, 15.625);
        Assert.Equal(12_500_000_000UL, t.RateBytesPerSecond);
    }
}

public class IfbNameTests
{
    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("k8s-pod-network0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Managed_sha512_agrees_with_the_platform_s(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal(System.Security.Cryptography.SHA512.HashData(bytes), Sha512.Hash(bytes));
    }

    [Fact]
    public void Every_length_across_block_boundaries_hashes_right()
    {
        for (int n = 0; n < 300; n++)
        {
            byte[] bytes = new byte[n];
            for (int i = 0; i < n; i++) bytes[i] = (byte)(i * 7 + n);
            Assert.Equal(System.Security.Cryptography.SHA512.HashData(bytes), Sha512.Hash(bytes));
        }
    }

    [Fact]
    public void The_ifb_is_named_as_the_reference_names_it()
    {
        // utils.MustFormatHashWithPrefix(15, "bwp", network+containerID): "bwp" + hex(sha512)[:12].
        string expected = "bwp" + Convert.ToHexStringLower(System.Security.Cryptography.SHA512.HashData(Encoding.UTF8.GetBytes("cbr0abc123")))[..12];
        Assert.Equal(expected, BandwidthPlugin.IfbName("cbr0", "abc123"));
        Assert.Equal(15, expected.Length);
    }
}
