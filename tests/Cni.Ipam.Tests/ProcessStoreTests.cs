using System.Diagnostics;
using System.Net;
using Cni.Ipam;

namespace Cni.Ipam.Tests;

/// <summary>Several processes on one store, and processes killed with SIGKILL mid-reservation.</summary>
public class ProcessStoreTests : IDisposable
{
    private readonly TempStore _t = new();
    public void Dispose() => _t.Dispose();

    internal static string HelperDll
    {
        get
        {
            // bin/<Configuration>/net10.0/ of this project -> StoreHelper/bin/<Configuration>/net10.0/
            var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
            string tfm = baseDir.Name, configuration = baseDir.Parent!.Name;
            string project = baseDir.Parent!.Parent!.Parent!.FullName;
            return Path.Combine(project, "StoreHelper", "bin", configuration, tfm, "Cni.Ipam.StoreHelper.dll");
        }
    }

    internal static Process StartHelper(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(HelperDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    [Fact]
    public void Concurrent_processes_never_hand_out_the_same_address()
    {
        const int procs = 4, each = 40;
        string config = _t.ConfigJson("""[{"subnet":"10.3.0.0/24"}]""");
        var ps = Enumerable.Range(0, procs).Select(p => StartHelper(config, $"p{p}", each.ToString())).ToList();
        var outputs = ps.Select(p => p.StandardOutput.ReadToEndAsync()).ToList();
        foreach (var p in ps)
        {
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(90)), "helper did not finish");
            Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        }
        var all = outputs.SelectMany(o => o.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(procs * each, all.Count);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(procs * each, _t.Names().Count(n => n.StartsWith("10.")));
    }

    [Fact]
    public void Killing_writers_mid_reservation_leaves_a_consistent_store()
    {
        string config = _t.ConfigJson("""[{"subnet":"10.4.0.0/24"}]""");
        var rnd = new Random(7);
        var deadline = Stopwatch.StartNew();
        int kills = 0;
        for (int round = 0; round < 12 && deadline.Elapsed < TimeSpan.FromSeconds(60); round++)
        {
            using var p = StartHelper(config, $"k{round}", "loop");
            Assert.Equal("ready", p.StandardOutput.ReadLine());
            Thread.Sleep(rnd.Next(5, 60));
            p.Kill();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(10)));
            kills++;

            // The lock died with the process, every reservation file is complete, and no two owners share one.
            var ipam = HostLocalIpam.OnDisk(_t.Config("""[{"subnet":"10.4.0.0/24"}]""", ",\"lockTimeoutSeconds\":2"));
            var check = ipam.Check(new IpamRequest("probe", "eth0"));
            Assert.Empty(check);
            foreach (var name in _t.Names().Where(n => n.StartsWith("10.")))
            {
                string content = File.ReadAllText(Path.Combine(_t.NetDir, name));
                Assert.Matches(@"^k\d+-\d+\r\neth0$", content);
            }
            Assert.DoesNotContain(_t.Names(), n => n.StartsWith(Cni.Ipam.Disk.DiskReservationStore.TempPrefix));
        }
        Assert.True(kills > 0);

        // Each attachment holds at most one address of the set.
        using var s = _t.Store();
        using (s.Lock())
        {
            var owners = s.ListAll().GroupBy(r => (r.ContainerId, r.InterfaceName));
            Assert.All(owners, g => Assert.Single(g));
        }
    }
}
