using System.Text;
using Cni.Spec;
using Cni.TestSupport;

namespace Cni.Spec.Tests;

public class ResultConversionTests
{
    /// <summary>A dual-stack result using every field of the 1.1.0 form.</summary>
    internal static Result Sample() => new()
    {
        CniVersion = CniVersion.Current,
        Interfaces =
        [
            new Interface { Name = "cni0", Mac = "0a:58:0a:01:00:01" },
            new Interface { Name = "veth1234", Mac = "16:a3:9b:5b:aa:01", Mtu = 1500 },
            new Interface { Name = "eth0", Mac = "0a:58:0a:01:00:05", Mtu = 1500, Sandbox = "/var/run/netns/c1" },
        ],
        IPs =
        [
            new IPConfig { Interface = 2, Address = "10.1.0.5/16", Gateway = "10.1.0.1" },
            new IPConfig { Interface = 2, Address = "10.2.0.5/16" },
            new IPConfig { Interface = 2, Address = "fd00::5/64", Gateway = "fd00::1" },
        ],
        Routes =
        [
            new Route { Dst = "0.0.0.0/0", Gw = "10.1.0.1", Priority = 100 },
            new Route { Dst = "192.168.0.0/16", Mtu = 1400, AdvMss = 1360, Table = 10, Scope = 0 },
            new Route { Dst = "::/0", Gw = "fd00::1" },
        ],
        Dns = new Dns { Nameservers = ["10.1.0.1"], Domain = "example.org", Search = ["example.org"], Options = ["ndots:2"] },
    };

    public static TheoryData<string> Versions() => new(CniVersion.All);

    public static TheoryData<string, string> VersionPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var from in CniVersion.All)
            foreach (var to in CniVersion.All)
                data.Add(from, to);
        return data;
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public void Serialize_writes_each_version_in_its_own_shape(string version)
    {
        string json = Encoding.UTF8.GetString(ResultCodec.Serialize(Sample(), version));
        Golden.Match($"result_{version}.json", json);
    }

    [Theory]
    [MemberData(nameof(VersionPairs))]
    public void A_result_read_in_one_version_converts_to_every_other(string from, string to)
    {
        byte[] source = ResultCodec.Serialize(Sample(), from);
        var parsed = ResultCodec.Parse(source, from);
        string json = Encoding.UTF8.GetString(ResultCodec.Serialize(parsed, to));
        Golden.Match($"convert_{from}_to_{to}.json", json);
    }

    [Fact]
    public void Parse_takes_the_version_from_the_result_when_none_is_given()
    {
        var r = ResultCodec.Parse("""{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","gateway":"10.0.0.1","routes":[{"dst":"0.0.0.0/0"}]}}"""u8);
        Assert.Equal("10.0.0.2/24", r.IPs![0].Address);
        Assert.Equal("0.0.0.0/0", r.Routes![0].Dst);
    }

    [Fact]
    public void Converting_to_020_without_addresses_is_an_incompatible_version_error()
    {
        var r = new Result { Interfaces = [new Interface { Name = "eth0" }] };
        var e = Assert.Throws<CniException>(() => ResultCodec.Serialize(r, "0.2.0"));
        Assert.Equal(ErrorCode.IncompatibleVersion, e.Code);
    }

    [Fact]
    public void Only_the_first_address_of_each_family_survives_020()
    {
        var r = ResultCodec.Parse(ResultCodec.Serialize(Sample(), "0.2.0"), "0.2.0");
        Assert.Equal(["10.1.0.5/16", "fd00::5/64"], r.IPs!.Select(i => i.Address));
    }

    [Fact]
    public void Garbage_result_is_a_decoding_failure()
    {
        var e = Assert.Throws<CniException>(() => ResultCodec.Parse("{\"cniVersion\":\"1.0.0\",\"ips\":5}"u8));
        Assert.Equal(ErrorCode.DecodingFailure, e.Code);
    }

    [Fact]
    public void Empty_dns_is_left_out()
    {
        var r = new Result { IPs = [new IPConfig { Address = "10.0.0.2/24" }], Dns = new Dns() };
        string json = Encoding.UTF8.GetString(ResultCodec.Serialize(r, "1.1.0"));
        Assert.DoesNotContain("dns", json);
    }
}
