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
