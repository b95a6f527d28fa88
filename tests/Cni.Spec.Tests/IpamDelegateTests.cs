using System.Text;
using Cni.Spec;

namespace Cni.Spec.Tests;

/// <summary>How a delegated IPAM plugin's output is read: its error object passed through, anything else code 999.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class IpamDelegateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cni-spec-ipam-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_error_object_is_read_field_by_field()
    {
        var e = IpamDelegate.ReadError(Encoding.UTF8.GetBytes("""{"cniVersion": "1.0.0", "code": 11, "msg": "store busy", "details": "lock held", "extra": [1],}"""))!;
        Assert.Equal(("1.0.0", 11, "store busy", "lock held"), (e.CniVersion, e.Code, e.Msg, e.Details));
    }

    [Fact]
    public void A_null_msg_reads_as_empty()
    {
        var e = IpamDelegate.ReadError(Encoding.UTF8.GetBytes("""{"code": 7, "msg": null}"""))!;
        Assert.Equal((7, ""), (e.Code, e.Msg));
    }

    [Theory]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("[1]")]
    [InlineData("panic: runtime error")]
    [InlineData("""{"code": "7", "msg": "x"}""")]
    [InlineData("""{"code": 7, "msg": 5}""")]
    public void Output_that_is_not_an_error_object_is_not_read_as_one(string output)
    {
        Assert.Null(IpamDelegate.ReadError(Encoding.UTF8.GetBytes(output)));
    }

    private CniRequest RequestFor(string script)
    {
        string exe = Path.Combine(_dir, "fake-ipam");
        File.WriteAllText(exe, "#!/bin/sh\n" + script + "\n");
        File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        byte[] config = """{"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipam": {"type": "fake-ipam"}}"""u8.ToArray();
        return new CniRequest
        {
            Command = "ADD",
            Config = NetworkConfig.Parse(config),
            StdinData = config,
            Path = [_dir],
            Environment = new Dictionary<string, string> { ["CNI_COMMAND"] = "ADD", ["PATH"] = "/usr/bin:/bin" },
        };
    }

    [Fact]
    public void A_delegated_plugins_error_is_passed_through_unchanged()
    {
        var request = RequestFor("""echo '{"cniVersion": "1.0.0", "code": 11, "msg": "store busy", "details": "lock held"}'; exit 1""");
        var e = Assert.Throws<CniException>(() => IpamDelegate.Add(request));
        Assert.Equal((11, "store busy", "lock held"), (e.Code, e.Message, e.Details));
    }

    [Fact]
    public void A_delegated_plugin_failing_without_an_error_object_is_code_999_with_its_output()
    {
        var request = RequestFor("echo 'segfault'; exit 2");
        var e = Assert.Throws<CniException>(() => IpamDelegate.Add(request));
        Assert.Equal(ErrorCode.Internal, e.Code);
        Assert.Equal("IPAM plugin fake-ipam failed with exit code 2", e.Message);
        Assert.Equal("segfault", e.Details);
    }

    [Fact]
    public void A_delegated_plugins_result_is_read_in_the_version_it_names()
    {
        var request = RequestFor("""echo '{"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1"}]}'""");
        var r = IpamDelegate.Add(request);
        Assert.Equal("10.0.0.1", r.IPs![0].Gateway);
    }

    [Fact]
    public void A_delegated_plugin_gets_the_callers_environment_with_the_delegated_command()
    {
        // The fake answers with what it was given: CNI_COMMAND (once, replaced) and a variable of the caller.
        var request = RequestFor("""
            n=$(env | grep -c '^CNI_COMMAND=')
            echo "{\"cniVersion\": \"1.0.0\", \"ips\": [{\"address\": \"10.0.0.2/24\"}], \"dns\": {\"domain\": \"$CNI_COMMAND-$n-$PATH\"}}"
            """);
        var called = new CniRequest
        {
            Command = "CHECK",
            Config = request.Config,
            StdinData = request.StdinData,
            Path = request.Path,
            Environment = new Dictionary<string, string> { ["CNI_COMMAND"] = "CHECK", ["PATH"] = "/usr/bin:/bin" },
        };
        Assert.Equal("ADD-1-/usr/bin:/bin", IpamDelegate.Add(called).Dns!.Domain);
    }
}
