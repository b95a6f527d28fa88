using System.Text;
using System.Text.Json;
using Cni.Spec;
using Cni.TestSupport;

namespace Cni.Spec.Tests;

public class DispatcherTests
{
    private sealed class FakePlugin : CniPlugin
    {
        public List<string> Calls { get; } = [];
        public CniRequest? Last { get; private set; }
        public Exception? Throw { get; set; }
        public override string Name => "fake";

        public override Result Add(CniRequest r) { Record(r); return new Result { IPs = [new IPConfig { Address = "10.0.0.2/24", Gateway = "10.0.0.1" }] }; }
        public override void Del(CniRequest r) => Record(r);
        public override void Check(CniRequest r) => Record(r);
        public override void Status(CniRequest r) => Record(r);
        public override void Gc(CniRequest r) => Record(r);

        private void Record(CniRequest r)
        {
            Calls.Add(r.Command);
            Last = r;
            if (Throw is not null) throw Throw;
        }
    }

    private static Dictionary<string, string> Env(string command) => new()
    {
        ["CNI_COMMAND"] = command,
        ["CNI_CONTAINERID"] = "c1",
        ["CNI_NETNS"] = "/var/run/netns/c1",
        ["CNI_IFNAME"] = "eth0",
        ["CNI_PATH"] = "/opt/cni/bin",
    };

    private static (int Exit, string Stdout, string Stderr) Run(CniPlugin plugin, Dictionary<string, string> env, string stdin)
    {
        var output = new MemoryStream();
        var err = new StringWriter();
        int exit = Dispatcher.Run(plugin, env, new MemoryStream(Encoding.UTF8.GetBytes(stdin)), output, err);
        return (exit, Encoding.UTF8.GetString(output.ToArray()), err.ToString());
    }

    private static int ErrorCodeOf(string stdout)
    {
        using var doc = JsonDocument.Parse(stdout);
        Assert.True(doc.RootElement.TryGetProperty("msg", out _));
        return doc.RootElement.GetProperty("code").GetInt32();
    }

    private const string Config = """{"cniVersion":"1.1.0","name":"net1","type":"fake"}""";

    [Fact]
    public void Add_prints_the_result_in_the_config_version()
    {
        var (exit, stdout, _) = Run(new FakePlugin(), Env("ADD"), """{"cniVersion":"0.3.1","name":"net1","type":"fake"}""");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("0.3.1", doc.RootElement.GetProperty("cniVersion").GetString());
        Assert.Equal("4", doc.RootElement.GetProperty("ips")[0].GetProperty("version").GetString());
    }

    [Fact]
    public void Stdin_larger_than_the_limit_is_refused_before_parsing_with_code_6()
    {
        // Valid JSON, padded: it would parse as a config.
        string padded = "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"fake\",\"pad\":\"" + new string('a', Dispatcher.MaxConfigBytes) + "\"}";
        var (exit, stdout, _) = Run(new FakePlugin(), Env("ADD"), padded);
        Assert.Equal(1, exit);
        Assert.Equal(6, ErrorCodeOf(stdout));
        Assert.Contains("larger than 16 MiB", stdout);
        var (ok, _, _) = Run(new FakePlugin(), Env("ADD"), "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"fake\",\"pad\":\"" + new string('a', 1 << 20) + "\"}");
        Assert.Equal(0, ok);
    }

    [Fact]
    public void No_command_prints_the_about_text_to_stderr_and_exits_0()
    {
        var env = Env("ADD");
        env.Remove("CNI_COMMAND");
        var (exit, stdout, stderr) = Run(new FakePlugin(), env, "");
        Assert.Equal(0, exit);
        Assert.Equal("", stdout);
        Assert.Contains("CNI fake plugin", stderr);
        Assert.Contains("0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0", stderr);
    }

    [Fact]
    public void Version_lists_every_supported_version()
    {
        var (exit, stdout, _) = Run(new FakePlugin(), new() { ["CNI_COMMAND"] = "VERSION" }, "");
        Assert.Equal(0, exit);
        Golden.Match("version.json", stdout);
    }

    [Fact]
    public void Version_answers_in_the_requested_version()
    {
        var (_, stdout, _) = Run(new FakePlugin(), new() { ["CNI_COMMAND"] = "VERSION" }, """{"cniVersion":"0.4.0"}""");
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("0.4.0", doc.RootElement.GetProperty("cniVersion").GetString());
    }

    [Fact]
    public void Unknown_command_is_code_4()
    {
        var (exit, stdout, _) = Run(new FakePlugin(), Env("FROB"), Config);
        Assert.Equal(1, exit);
        Assert.Equal(4, ErrorCodeOf(stdout));
        Assert.Contains("FROB", stdout);
    }

    [Fact]
    public void Missing_variables_are_code_4_naming_them()
    {
        var env = Env("ADD");
        env.Remove("CNI_NETNS");
        env.Remove("CNI_PATH");
        var (exit, stdout, _) = Run(new FakePlugin(), env, Config);
        Assert.Equal(1, exit);
        Assert.Equal(4, ErrorCodeOf(stdout));
        Assert.Contains("CNI_NETNS,CNI_PATH", stdout);
    }

    [Fact]
    public void Del_does_not_need_a_netns()
    {
        var env = Env("DEL");
        env.Remove("CNI_NETNS");
        var plugin = new FakePlugin();
        var (exit, stdout, _) = Run(plugin, env, Config);
        Assert.Equal(0, exit);
        Assert.Equal("", stdout);
        Assert.Equal(["DEL"], plugin.Calls);
    }

    [Fact]
    public void Garbage_stdin_is_code_6()
    {
        var (exit, stdout, _) = Run(new FakePlugin(), Env("ADD"), "this is not json");
        Assert.Equal(1, exit);
        Assert.Equal(6, ErrorCodeOf(stdout));
    }

    [Fact]
    public void Unknown_cniVersion_is_code_1()
    {
        var (exit, stdout, _) = Run(new FakePlugin(), Env("ADD"), """{"cniVersion":"9.9.9","name":"net1","type":"fake"}""");
        Assert.Equal(1, exit);
        Assert.Equal(1, ErrorCodeOf(stdout));
    }

    [Theory]
    [InlineData("CHECK", "0.3.1")]
    [InlineData("STATUS", "1.0.0")]
    [InlineData("GC", "1.0.0")]
    public void Commands_newer_than_the_config_version_are_code_1(string command, string version)
    {
        var plugin = new FakePlugin();
        var (exit, stdout, _) = Run(plugin, Env(command), $$"""{"cniVersion":"{{version}}","name":"net1","type":"fake"}""");
        Assert.Equal(1, exit);
        Assert.Equal(1, ErrorCodeOf(stdout));
        Assert.Empty(plugin.Calls);
    }

    [Theory]
    [InlineData("CHECK")]
    [InlineData("STATUS")]
    [InlineData("GC")]
    public void Commands_run_at_110(string command)
    {
        var plugin = new FakePlugin();
        var (exit, _, _) = Run(plugin, Env(command), Config);
        Assert.Equal(0, exit);
        Assert.Equal([command], plugin.Calls);
    }

    [Fact]
    public void Missing_network_name_is_code_7()
    {
        var (_, stdout, _) = Run(new FakePlugin(), Env("ADD"), """{"cniVersion":"1.1.0","type":"fake"}""");
        Assert.Equal(7, ErrorCodeOf(stdout));
    }

    [Fact]
    public void Network_name_with_a_slash_is_code_7()
    {
        var (_, stdout, _) = Run(new FakePlugin(), Env("ADD"), """{"cniVersion":"1.1.0","name":"../x","type":"fake"}""");
        Assert.Equal(7, ErrorCodeOf(stdout));
    }

    [Theory]
    [InlineData("CNI_CONTAINERID", "../../etc")]
    [InlineData("CNI_IFNAME", "eth0/x")]
    [InlineData("CNI_IFNAME", "averyveryverylongname")]
    public void Bad_names_from_the_environment_are_code_4(string key, string value)
    {
        var env = Env("ADD");
        env[key] = value;
        var plugin = new FakePlugin();
        var (_, stdout, _) = Run(plugin, env, Config);
        Assert.Equal(4, ErrorCodeOf(stdout));
        Assert.Empty(plugin.Calls);
    }

    [Fact]
    public void A_plugin_error_is_printed_with_its_code_and_details()
    {
        var plugin = new FakePlugin { Throw = new CniException(ErrorCode.TryAgainLater, "store busy", "lock held") };
        var (exit, stdout, _) = Run(plugin, Env("ADD"), Config);
        Assert.Equal(1, exit);
        Golden.Match("error.json", stdout);
    }

    [Fact]
    public void An_unexpected_exception_becomes_a_cni_error_not_a_stack_trace()
    {
        var plugin = new FakePlugin { Throw = new InvalidOperationException("boom") };
        var (exit, stdout, stderr) = Run(plugin, Env("DEL"), Config);
        Assert.Equal(1, exit);
        Assert.Equal(ErrorCode.Internal, ErrorCodeOf(stdout));
        Assert.DoesNotContain("   at ", stdout + stderr);
    }

    [Fact]
    public void The_request_carries_args_path_prevResult_and_attachments()
    {
        var env = Env("GC");
        env["CNI_ARGS"] = "IgnoreUnknown=1;IP=10.0.0.9";
        env["CNI_PATH"] = "/a:/b";
        var plugin = new FakePlugin();
        Run(plugin, env, """
            {"cniVersion":"1.1.0","name":"net1","type":"fake",
             "prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.9/24"}]},
             "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}
            """);
        var r = plugin.Last!;
        Assert.Equal("10.0.0.9", r.Args.Get("IP"));
        Assert.Equal(["/a", "/b"], r.Path);
        Assert.Equal("10.0.0.9/24", r.PrevResult!.IPs![0].Address);
        Assert.Equal("c1", Assert.Single(r.ValidAttachments).ContainerId);
    }

    [Fact]
    public void Valid_attachments_are_values_with_their_tag_and_missing_fields_read_as_empty()
    {
        var plugin = new FakePlugin();
        Run(plugin, Env("GC"), """
            {"cniVersion":"1.1.0","name":"net1","type":"fake",
             "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"},{"ifname":"eth1"}]}
            """);
        var attachments = plugin.Last!.ValidAttachments;
        Assert.Equal(new Attachment("c1", "eth0"), attachments[0]);
        Assert.Equal("c1 eth0", attachments[0].Tag);
        Assert.Equal(new Attachment("", "eth1"), attachments[1]);
        Assert.Contains(new Attachment("c1", "eth0"), attachments.ToHashSet());
    }

    [Fact]
    public void The_older_attachments_key_is_read_and_a_missing_key_is_empty()
    {
        var plugin = new FakePlugin();
        Run(plugin, Env("GC"), """{"cniVersion":"1.1.0","name":"net1","type":"fake","cni.dev/attachments":[{"containerID":"x","ifname":"eth1"}]}""");
        Assert.Equal("eth1", Assert.Single(plugin.Last!.ValidAttachments).IfName);
        Run(plugin, Env("GC"), Config);
        Assert.Empty(plugin.Last!.ValidAttachments);
    }

    /// <summary>A stream that hands out at most a few bytes per read, as a pipe may.</summary>
    private sealed class TrickleStream(byte[] data) : Stream
    {
        private int _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = Math.Min(Math.Min(count, 1 + _position % 7), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4096 - 60)]
    [InlineData(100_000)]
    public void Stdin_is_read_whole_however_large_and_however_it_arrives(int padding)
    {
        byte[] config = Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"net1","type":"fake","padding":"{{new string('x', padding)}}"}""");
        foreach (Stream stdin in new Stream[] { new MemoryStream(config), new TrickleStream(config) })
        {
            var plugin = new FakePlugin();
            int exit = Dispatcher.Run(plugin, Env("DEL"), stdin, new MemoryStream(), new StringWriter());
            Assert.Equal(0, exit);
            Assert.Equal(config, plugin.Last!.StdinData);
            Assert.Equal(padding, plugin.Last.Config.Extra!["padding"].GetString()!.Length);
        }
    }

    [Fact]
    public void PrevResult_in_an_old_version_is_converted_to_the_newest_form()
    {
        var plugin = new FakePlugin();
        Run(plugin, Env("DEL"), """{"cniVersion":"0.2.0","name":"net1","type":"fake","prevResult":{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.9/24","gateway":"10.0.0.1"}}}""");
        Assert.Equal("10.0.0.1", plugin.Last!.PrevResult!.IPs![0].Gateway);
    }
}
