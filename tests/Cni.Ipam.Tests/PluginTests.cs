using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Cni.Plugins.HostLocal;
using Cni.Spec;

namespace Cni.Ipam.Tests;

/// <summary>The plugin through the dispatcher, in memory; and side by side with the reference binary on one store.</summary>
public class PluginTests : IDisposable
{
    private readonly TempStore _t = new();
    public void Dispose() => _t.Dispose();

    private const string ReferencePlugin = "/usr/lib/cni/host-local";

    private string Config(string ranges, string extra = "", string version = "1.1.0") =>
        _t.ConfigJson(ranges, extra).Replace("\"cniVersion\":\"1.0.0\"", $"\"cniVersion\":\"{version}\"");

    private static (int Rc, JsonElement Out) Run(string command, string config, string id = "c1", string ifname = "eth0", string cniArgs = "")
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = id, ["CNI_NETNS"] = "/var/run/netns/x",
            ["CNI_IFNAME"] = ifname, ["CNI_PATH"] = "/opt/cni/bin", ["CNI_ARGS"] = cniArgs,
        };
        using var stdin = new MemoryStream(Encoding.UTF8.GetBytes(config));
        using var stdout = new MemoryStream();
        int rc = Dispatcher.Run(new HostLocalPlugin(), env, stdin, stdout, TextWriter.Null);
        var text = Encoding.UTF8.GetString(stdout.ToArray());
        return (rc, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static (int Rc, string Out) RunReference(string command, string config, string id, string ifname = "eth0")
    {
        var psi = new ProcessStartInfo(ReferencePlugin) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = id;
        psi.Environment["CNI_NETNS"] = "/var/run/netns/x";
        psi.Environment["CNI_IFNAME"] = ifname;
        psi.Environment["CNI_PATH"] = "/usr/lib/cni";
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(config);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)));
        return (p.ExitCode, output);
    }

    [Fact]
    public void Add_prints_ips_without_interface_with_gateway_and_routes()
    {
        var (rc, o) = Run("ADD", Config("""[{"subnet":"10.5.0.0/24"}],[{"subnet":"fd00:5::/64"}]""", ",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.5.0.254\"}]"));
        Assert.Equal(0, rc);
        var ips = o.GetProperty("ips");
        Assert.Equal(2, ips.GetArrayLength());
        Assert.Equal("10.5.0.2/24", ips[0].GetProperty("address").GetString());
        Assert.Equal("10.5.0.1", ips[0].GetProperty("gateway").GetString());
        Assert.False(ips[0].TryGetProperty("interface", out _));
        Assert.Equal("fd00:5::2/64", ips[1].GetProperty("address").GetString());
        Assert.Equal("10.5.0.254", o.GetProperty("routes")[0].GetProperty("gw").GetString());
    }

    [Fact]
    public void Bad_config_is_code_7()
    {
        var (rc, o) = Run("ADD", Config("""[{"subnet":"10.5.0.0/24","rangeStart":"10.6.0.1"}]"""));
        Assert.Equal(1, rc);
        Assert.Equal(7, o.GetProperty("code").GetInt32());
        Assert.Contains("RangeStart 10.6.0.1 not in network 10.5.0.0/24", o.GetProperty("msg").GetString());
    }

    [Fact]
    public void Ipam_field_of_the_wrong_kind_is_code_7_naming_its_path()
    {
        var (rc, o) = Run("ADD", Config("""[{"subnet":"10.5.0.0/24","Gateway":["10.5.0.1"]}]"""));
        Assert.Equal(1, rc);
        Assert.Equal(7, o.GetProperty("code").GetInt32());
        Assert.StartsWith("failed to parse network configuration: ", o.GetProperty("msg").GetString());
        Assert.Contains("'$.ipam.ranges[0][0].Gateway'", o.GetProperty("msg").GetString());
    }

    [Fact]
    public void Ipam_keys_in_any_case_configure_the_plugin()
    {
        var (rc, o) = Run("ADD", Config("""[{"SUBNET":"10.5.0.0/24","RangeStart":"10.5.0.40"}]"""));
        Assert.Equal(0, rc);
        Assert.Equal("10.5.0.40/24", o.GetProperty("ips")[0].GetProperty("address").GetString());
    }

    [Fact]
    public void Lock_timeout_is_code_11()
    {
        Directory.CreateDirectory(_t.NetDir);
        using var holder = _t.Store();
        using var held = holder.Lock();
        var (rc, o) = Run("ADD", Config("""[{"subnet":"10.5.0.0/24"}]""", ",\"lockTimeoutSeconds\":0.2"));
        Assert.Equal(1, rc);
        Assert.Equal(11, o.GetProperty("code").GetInt32());
    }

    [Fact]
    public void Status_on_an_unwritable_store_is_code_50()
    {
        File.WriteAllText(Path.Combine(_t.DataDir, "net1"), "a file where the directory should be");
        var (rc, o) = Run("STATUS", Config("""[{"subnet":"10.5.0.0/24"}]"""));
        Assert.Equal(1, rc);
        Assert.Equal(50, o.GetProperty("code").GetInt32());
    }

    [Fact]
    public void Check_fails_without_a_reservation_and_del_gc_release()
    {
        string c = Config("""[{"subnet":"10.5.0.0/24"}]""");
        Assert.Equal(1, Run("CHECK", c).Rc);
        Assert.Equal(0, Run("ADD", c).Rc);
        Assert.Equal(0, Run("ADD", c, id: "c2").Rc);
        Assert.Equal(0, Run("CHECK", c).Rc);
        Assert.Equal(0, Run("DEL", c).Rc);
        Assert.Equal(0, Run("DEL", c).Rc);
        Assert.Equal(1, Run("CHECK", c).Rc);
        string gc = c.Insert(1, "\"cni.dev/valid-attachments\":[{\"containerID\":\"c3\",\"ifname\":\"eth0\"}],");
        Assert.Equal(0, Run("GC", gc).Rc);
        Assert.Equal(1, Run("CHECK", c, id: "c2").Rc);
    }

    [Fact]
    public void Static_address_from_cni_args_is_handed_out()
    {
        var (rc, o) = Run("ADD", Config("""[{"subnet":"10.5.0.0/24"}]"""), cniArgs: "IgnoreUnknown=1;IP=10.5.0.42");
        Assert.Equal(0, rc);
        Assert.Equal("10.5.0.42/24", o.GetProperty("ips")[0].GetProperty("address").GetString());
    }

    [SkippableFact]
    public void Reference_and_ours_alternating_on_one_store_never_share_an_address()
    {
        Skip.IfNot(File.Exists(ReferencePlugin), $"{ReferencePlugin} not installed");
        string c = Config("""[{"subnet":"10.7.0.0/28"}],[{"subnet":"fd00:7::/124"}]""", version: "1.0.0");
        var seen = new Dictionary<string, string>();
        void Record(string owner, JsonElement result)
        {
            foreach (var ip in result.GetProperty("ips").EnumerateArray())
                Assert.True(seen.TryAdd(ip.GetProperty("address").GetString()!, owner), $"{owner} got an address already handed out");
        }
        // 13 usable v4 addresses (.2-.14): fill the /28 alternating, with releases on both sides in between.
        for (int i = 0; i < 12; i++)
        {
            if (i % 2 == 0)
            {
                var (rc, o) = Run("ADD", c, id: $"ours{i}");
                Assert.Equal(0, rc);
                Record($"ours{i}", o);
            }
            else
            {
                var (rc, text) = RunReference("ADD", c, $"ref{i}");
                Assert.True(rc == 0, text);
                Record($"ref{i}", JsonDocument.Parse(text).RootElement);
            }
            if (i == 5)
            {
                // Each side releases one of the other's; both then know the address is free again.
                Assert.Equal(0, RunReference("DEL", c, "ours2").Rc);
                Assert.Equal(0, Run("DEL", c, id: "ref3").Rc);
                seen = seen.Where(kv => kv.Value is not ("ours2" or "ref3")).ToDictionary();
            }
        }
        // The reference sees our reservations (CHECK) and we see its.
        Assert.Equal(0, RunReference("CHECK", c, "ours0").Rc);
        Assert.Equal(0, Run("CHECK", c, id: "ref1").Rc);
        // Repeated ADD of a reference attachment through ours returns its address rather than a second one.
        var (_, again) = Run("ADD", c, id: "ref1");
        Assert.Equal(seen.Single(kv => kv.Value == "ref1" && !kv.Key.Contains(':')).Key, again.GetProperty("ips")[0].GetProperty("address").GetString());
        Assert.Equal(12 * 2 - 4, _t.Names().Count(n => !n.StartsWith("last_") && n != "lock"));
    }

    [SkippableFact]
    public void Reference_and_ours_running_concurrently_never_share_an_address()
    {
        Skip.IfNot(File.Exists(ReferencePlugin), $"{ReferencePlugin} not installed");
        string c = Config("""[{"subnet":"10.8.0.0/24"}]""", version: "1.0.0");
        const int each = 30;
        var refResults = new List<string>();
        Exception? refFailure = null;
        var refWorker = new Thread(() =>
        {
            try
            {
                for (int i = 0; i < each; i++)
                {
                    var (rc, text) = RunReference("ADD", c, $"ref{i}");
                    if (rc != 0) throw new Exception($"reference ADD failed: {text}");
                    lock (refResults) refResults.Add(JsonDocument.Parse(text).RootElement.GetProperty("ips")[0].GetProperty("address").GetString()!);
                }
            }
            catch (Exception e)
            {
                refFailure = e;
            }
        });
        refWorker.Start();
        var ours = new List<string>();
        for (int i = 0; i < each; i++)
        {
            var (rc, o) = Run("ADD", c, id: $"ours{i}");
            Assert.Equal(0, rc);
            ours.Add(o.GetProperty("ips")[0].GetProperty("address").GetString()!);
        }
        Assert.True(refWorker.Join(TimeSpan.FromSeconds(120)));
        Assert.Null(refFailure);
        var all = ours.Concat(refResults).ToList();
        Assert.Equal(2 * each, all.Count);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(2 * each, _t.Names().Count(n => n.StartsWith("10.8.")));
    }
}
