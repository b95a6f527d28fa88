using System.Diagnostics;
using Cni.Linux.Namespaces;
using Cni.Linux.Netfilter;

namespace Cni.Netfilter.Tests;

/// <summary>
/// A network namespace made for one test (`ip netns add cnitest-…`) and deleted in Dispose, also
/// when the test failed. Commands for fixtures and read-back (`nft`, `ip`) run inside it.
/// </summary>
public sealed class ThrowawayNamespace : IDisposable
{
    public ThrowawayNamespace(string prefix = "cnitest-")
    {
        Name = prefix + Guid.NewGuid().ToString("N")[..10];
        Run("ip", "netns", "add", Name);
        Exec("ip", "link", "set", "lo", "up");
    }

    public string Name { get; }

    public NetNs Open() => NetNs.OpenNamed(Name);

    public NftConnection Nft()
    {
        using NetNs ns = Open();
        return NftConnection.OpenIn(ns);
    }

    /// <summary>Runs a command inside the namespace; returns stdout, throws with stderr on failure.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    public (int ExitCode, string Output) TryExec(params string[] command) => TryRun(["ip", "netns", "exec", Name, .. command]);

    /// <summary>
    /// Runs <paramref name="action"/> while `nft monitor elements` watches the namespace and returns the element
    /// events it printed meanwhile ("add element …", "delete element …"). A marker table, added and removed
    /// here, brackets the events: an element added to it before and after <paramref name="action"/>. Bounded:
    /// at most 5 s for each marker.
    /// </summary>
    public IReadOnlyList<string> WatchElements(Action action)
    {
        const string Marker = "cnitest-marker";
        Exec("nft", "add table inet " + Marker + " { set marks { type ipv4_addr; }; }");
        var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in new[] { "netns", "exec", Name, "nft", "monitor", "elements" })
        {
            info.ArgumentList.Add(argument);
        }
        using Process monitor = Process.Start(info)!;
        monitor.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Add(e.Data); };
        monitor.BeginOutputReadLine();
        try
        {
            WaitForMarker(lines, 1, Marker);
            action();
            var events = new List<string>();
            WaitForMarker(lines, 2, Marker, events);
            return events;
        }
        finally
        {
            monitor.Kill();
            monitor.WaitForExit(5_000);
            TryExec("nft", "delete", "table", "inet", Marker);
        }
    }

    /// <summary>Adds 10.MARK.N.1 to the marker set (N = 0, 1, …) until the monitor prints one; other lines go to <paramref name="seen"/>.</summary>
    private void WaitForMarker(System.Collections.Concurrent.BlockingCollection<string> lines, int mark, string marker, List<string>? seen = null)
    {
        var deadline = Stopwatch.StartNew();
        for (int attempt = 0; deadline.Elapsed < TimeSpan.FromSeconds(5); attempt++)
        {
            Exec("nft", "add", "element", "inet", marker, "marks", $"{{ 10.{mark}.{attempt}.1 }}");
            while (lines.TryTake(out string? line, 200))
            {
                if (line.Contains(marker, StringComparison.Ordinal))
                {
                    if (line.Contains($"{{ 10.{mark}.", StringComparison.Ordinal))
                    {
                        return;
                    }
                    continue; // the start marker, seen late
                }
                seen?.Add(line);
            }
        }
        throw new TimeoutException("nft monitor printed no marker within 5 s");
    }

    public void Dispose()
    {
        TryRun("ip", "netns", "del", Name);
    }

    public static string Run(params string[] command)
    {
        (int code, string output) = TryRun(command);
        if (code != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({code}): {output}");
        }
        return output;
    }

    public static (int ExitCode, string Output) TryRun(params string[] command)
    {
        var info = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(info)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{string.Join(' ', command)} timed out");
        }
        return (process.ExitCode, process.ExitCode == 0 ? stdout : stdout + stderr.Result);
    }

    /// <summary>True when nftables can be used here (root, nf_tables available); tests skip otherwise.</summary>
    public static string? MissingNftables()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            return "needs root on Linux";
        }
        try
        {
            using var ns = new ThrowawayNamespace();
            ns.Exec("nft", "list", "tables");
            return null;
        }
        catch (Exception e)
        {
            return "nftables unavailable: " + e.Message;
        }
    }
}
