using System.Text;
using System.Text.Json;
using Cni.Plugins.Dnsname;
using Cni.Resolver;
using Cni.Spec;

namespace Cni.Plugins.Tests.Dnsname;

/// <summary>The dnsname plugin in-process: it only reads prevResult and writes the names file.</summary>
public sealed class DnsnamePluginTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "dnsname-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private const string Prev = """
        {"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],
         "ips":[{"address":"10.88.0.7/16","gateway":"10.88.0.1","interface":0},{"address":"fd88::7/64","gateway":"fd88::1","interface":0}],
         "dns":{"nameservers":["192.0.2.53"],"search":["corp.example"]}}
        """;

    private string Conf(string extra = "", bool prev = true, string version = "1.0.0") =>
        $$"""{"cniVersion":"{{version}}","name":"podnet","type":"dnsname","domainName":"Dns.Podman","dataDir":"{{_dir}}"{{extra}}{{(prev ? ",\"prevResult\":" + Prev : "")}}}""";

    private static (int Exit, JsonElement Out) Run(string command, string conf, string id = "c1", string args = "K8S_POD_NAME=web;IgnoreUnknown=1;K8S_POD_NAMESPACE=x")
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = id, ["CNI_NETNS"] = "/var/run/netns/x", ["CNI_IFNAME"] = "eth0",
            ["CNI_ARGS"] = args, ["CNI_PATH"] = "/opt/cni/bin",
        };
        var stdout = new MemoryStream();
        int exit = Dispatcher.Run(new DnsnamePlugin(), env, new MemoryStream(Encoding.UTF8.GetBytes(conf)), stdout, TextWriter.Null);
        var text = Encoding.UTF8.GetString(stdout.ToArray());
        return (exit, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private NetworkNames? Names() => new NameStore(_dir).Read("podnet");

    [Fact]
    public void ADD_records_the_name_and_aliases_and_puts_the_resolver_first()
    {
        var (exit, result) = Run("ADD", Conf(""","capabilities":{"aliases":true},"runtimeConfig":{"aliases":{"podnet":["WWW","web-alias"],"other":["no"]}}"""));
        Assert.Equal(0, exit);
        Assert.Equal(["10.88.0.1", "fd88::1", "192.0.2.53"], result.GetProperty("dns").GetProperty("nameservers").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["dns.podman", "corp.example"], result.GetProperty("dns").GetProperty("search").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(2, result.GetProperty("ips").GetArrayLength());

        var n = Names()!;
        Assert.Equal("dns.podman", n.Domain);
        var e = Assert.Single(n.Entries);
        Assert.Equal(("c1", "eth0", "web"), (e.ContainerId, e.IfName, e.Name));
        Assert.Equal(["www", "web-alias"], e.Aliases);
        Assert.Equal(["10.88.0.7", "fd88::7"], e.Addresses.Select(a => a.ToString()));
        Assert.Equal(["10.88.0.0/16", "fd88::/64"], n.Subnets.Select(s => s.ToString()));
    }

    [Fact]
    public void Go_cased_aliases_capability_is_read()
    {
        Assert.Equal(0, Run("ADD", Conf(""","RuntimeConfig":{"Aliases":{"podnet":["www"]}}""")).Exit);
        Assert.Equal(["www"], Assert.Single(Names()!.Entries).Aliases);
    }

    [Fact]
    public void ADD_twice_keeps_one_entry_and_DEL_removes_it_and_the_file()
    {
        Assert.Equal(0, Run("ADD", Conf()).Exit);
        Assert.Equal(0, Run("ADD", Conf()).Exit);
        Assert.Equal(0, Run("ADD", Conf(), id: "c2", args: "K8S_POD_NAME=db").Exit);
        Assert.Equal(2, Names()!.Entries.Count);
        Assert.Equal(0, Run("CHECK", Conf()).Exit);
        Assert.Equal(0, Run("DEL", Conf(prev: false)).Exit);
        Assert.Equal(["db"], Names()!.Entries.Select(e => e.Name));
        Assert.Equal(0, Run("DEL", Conf(prev: false), id: "c2").Exit);
        Assert.Null(Names());
        Assert.False(File.Exists(Path.Combine(_dir, "podnet.names")));
    }

    [Fact]
    public void DEL_tolerates_missing_state()
    {
        Assert.Equal(0, Run("DEL", Conf(prev: false)).Exit); // the directory does not exist (a reboot cleared /run)
        Assert.Equal(0, Run("DEL", Conf(prev: false), args: "").Exit); // no name needed to remove
    }

    [Fact]
    public void DEL_removes_the_temporary_file_of_an_ADD_killed_before_its_rename()
    {
        // Found by killing dnsname's ADD at its rename (integration/scenarios/faults.sh).
        Assert.Equal(0, Run("ADD", Conf(), id: "c2", args: "K8S_POD_NAME=db").Exit);
        File.WriteAllText(Path.Combine(_dir, "podnet.names.tmp"), "half");
        Assert.Equal(0, Run("DEL", Conf(prev: false)).Exit); // c1 was never recorded
        Assert.False(File.Exists(Path.Combine(_dir, "podnet.names.tmp")));
        Assert.Equal(["db"], Names()!.Entries.Select(e => e.Name));
        File.WriteAllText(Path.Combine(_dir, "podnet.names.tmp"), "half");
        Assert.Equal(0, Run("DEL", Conf(prev: false), id: "c2").Exit);
        Assert.Empty(Directory.GetFiles(_dir, "podnet.names*"));
    }

    [Fact]
    public void CHECK_fails_without_the_entry_or_with_another_address()
    {
        var (exit, err) = Run("CHECK", Conf());
        Assert.Equal(1, exit);
        Assert.Contains("no name recorded", err.GetProperty("msg").GetString());
        Assert.Equal(0, Run("ADD", Conf()).Exit);
        (exit, err) = Run("CHECK", Conf().Replace("10.88.0.7/16", "10.88.0.9/16"));
        Assert.Equal(1, exit);
        Assert.Contains("10.88.0.9", err.GetProperty("msg").GetString());
    }

    [Fact]
    public void GC_drops_the_entries_of_attachments_that_are_gone()
    {
        Assert.Equal(0, Run("ADD", Conf()).Exit);
        Assert.Equal(0, Run("ADD", Conf(), id: "c2", args: "K8S_POD_NAME=db").Exit);
        string gc = Conf(""","cni.dev/valid-attachments":[{"containerID":"c2","ifname":"eth0"}]""", prev: false, version: "1.1.0");
        Assert.Equal(0, Run("GC", gc).Exit);
        Assert.Equal(["db"], Names()!.Entries.Select(e => e.Name));
    }

    [Theory]
    [InlineData("", 4, "K8S_POD_NAME is not set")]
    [InlineData("K8S_POD_NAME=bad name", 4, "not a valid host name")]
    public void ADD_needs_a_valid_container_name(string args, int code, string message)
    {
        var (exit, err) = Run("ADD", Conf(), args: args);
        Assert.Equal(1, exit);
        Assert.Equal(code, err.GetProperty("code").GetInt32());
        Assert.Contains(message, err.GetProperty("msg").GetString());
        Assert.Null(Names());
    }

    [Fact]
    public void ADD_needs_prevResult_with_a_gateway()
    {
        var (exit, err) = Run("ADD", Conf(prev: false));
        Assert.Equal(1, exit);
        Assert.Contains("chained", err.GetProperty("msg").GetString());
        (exit, err) = Run("ADD", Conf().Replace("\"gateway\":\"10.88.0.1\",", "").Replace("\"gateway\":\"fd88::1\",", ""));
        Assert.Equal(1, exit);
        Assert.Contains("no gateway", err.GetProperty("msg").GetString());
        Assert.Null(Names());
    }

    [Fact]
    public void Bad_config_is_a_config_error()
    {
        Assert.Equal(7, Run("ADD", Conf(""","runtimeConfig":{"aliases":{"podnet":["a b"]}}""")).Out.GetProperty("code").GetInt32());
        Assert.Equal(7, Run("ADD", Conf().Replace("Dns.Podman", "bad..domain")).Out.GetProperty("code").GetInt32());
        Assert.Equal(7, Run("ADD", Conf().Replace($"\"{_dir}\"", "\"relative\"")).Out.GetProperty("code").GetInt32());
    }
}
