using System.Diagnostics;
using Cni.Linux.Namespaces;

namespace Cni.Linux.Tests;

/// <summary>
/// A throwaway network namespace (`ip netns add cnitest-RANDOM`), deleted on Dispose even when
/// the test failed. Tests never touch the root namespace's network.
/// </summary>
public sealed class TestNamespace : IDisposable
{
    public TestNamespace()
    {
        Name = "cnitest-" + Guid.NewGuid().ToString("N")[..10];
        Run("ip", "netns", "add", Name);
        Path = NetNs.PathOfNamed(Name);
    }

    public string Name { get; }

    public string Path { get; }

    public NetNs Open() => NetNs.Open(Path);

    /// <summary>Runs a command inside the namespace and returns its stdout; throws on failure.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    public void Dispose()
    {
        try
        {
            Run("ip", "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
            // already gone (a test may delete it on purpose)
        }
    }

    public static string Run(params string[] command)
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
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000))
        {
            process.Kill();
            throw new InvalidOperationException($"{string.Join(' ', command)} timed out");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} failed ({process.ExitCode}): {stderr}");
        }
        return stdout;
    }
}
