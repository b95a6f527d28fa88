using System.Text.Json;
using Cni.Spec;

namespace Cni.Spec.Tests;

/// <summary>
/// Keys are matched as Go's encoding/json matches them (the reference plugins decode with it, and runtimes rely on
/// it): the field of that exact name, else the first field whose name equals the key after Go's case folding.
/// </summary>
public class GoKeyMatchingTests
{
    private static JsonProperty Property(string json) => JsonDocument.Parse(json).RootElement.EnumerateObject().First();

    [Theory]
    [InlineData("hostPort", "hostPort")]
    [InlineData("HostPort", "hostPort")]
    [InlineData("HOSTPORT", "hostPort")]
    [InlineData("hostport", "hostPort")]
    [InlineData("hostIP", "hostIP")]
    [InlineData("HostIP", "hostIP")]
    [InlineData("host_port", null)]
    [InlineData("hostPorts", null)]
    [InlineData("", null)]
    public void A_key_selects_its_field_exactly_or_ignoring_case(string key, string? field)
    {
        var fields = new JsonFields("hostPort", "containerPort", "protocol", "hostIP");
        Assert.Equal(field, fields.Match(key));
        Assert.Equal(field, fields.Match(Property($$"""{"{{key}}": 1}""")));
    }

    [Fact]
    public void An_exact_name_wins_over_an_earlier_field_that_matches_only_folded()
    {
        var fields = new JsonFields("ID", "id");
        Assert.Equal("id", fields.Match("id"));
        Assert.Equal("ID", fields.Match("ID"));
        Assert.Equal("ID", fields.Match("Id")); // folded: the first field in order
    }

    [Fact]
    public void Folding_is_Gos_upper_of_lower_so_the_Kelvin_sign_and_long_s_fold_with_ASCII()
    {
        Assert.Equal(JsonFields.Fold("k"), JsonFields.Fold("\u212A")); // KELVIN SIGN
        Assert.Equal(JsonFields.Fold("s"), JsonFields.Fold("\u017F")); // LATIN SMALL LETTER LONG S
        Assert.Equal("key", new JsonFields("key").Match("\u212Aey"));
        Assert.Equal("mask", new JsonFields("mask").Match("ma\u017Fk"));
        Assert.Equal("ÉTÉ", JsonFields.Fold("été"));
        Assert.Equal("ID", JsonFields.Fold("\u0131d")); // dotless i, as Go's unicode.ToUpper
        Assert.Equal("ID", JsonFields.Fold("\u0130D"));
        Assert.Null(new JsonFields("hostPort").Match("hostPört"));
    }

    [Fact]
    public void A_key_that_is_not_UTF8_selects_nothing_or_is_refused_where_the_reader_refuses_it()
    {
        var doc = JsonDocument.Parse(new byte[] { (byte)'{', (byte)'"', (byte)'a', 0xff, (byte)'"', (byte)':', (byte)'1', (byte)'}' });
        var p = doc.RootElement.EnumerateObject().First();
        Assert.Null(new JsonFields("a").Match(p));
        Assert.Throws<JsonException>(() => new JsonFields("a").Match(p, "$"));
    }

    [Fact]
    public void A_one_field_lookup_takes_the_last_key_that_selects_it()
    {
        var obj = JsonDocument.Parse("""{"Mac": "a", "other": 1, "MAC": "b"}""").RootElement;
        Assert.True(JsonFields.TryGet(obj, "mac", out var v));
        Assert.Equal("b", v.GetString());
        Assert.False(JsonFields.TryGet(obj, "ips", out _));
    }

    [Fact]
    public void The_dns_capability_as_go_cni_writes_it_selects_the_fields_of_its_shape()
    {
        // go-cni's DNS type has no JSON tags: {"Servers":[...],"Searches":[...],"Options":[...]}; the capability's
        // fields in CONVENTIONS.md are servers, searches and options.
        var fields = new JsonFields("servers", "searches", "options");
        var obj = JsonDocument.Parse("""{"Servers": ["10.0.0.10"], "Searches": ["svc.cluster.local"], "Options": ["ndots:5"]}""").RootElement;
        Assert.Equal(["servers", "searches", "options"], obj.EnumerateObject().Select(p => fields.Match(p)));
    }
}
