using Cni.Linux.Interop;
using Cni.Linux.Processes;
using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// Delegation to the IPAM plugin a config names (spec section "Delegated plugins"): found on CNI_PATH by
/// bare name, run with the same environment and config, its result parsed or its error passed through.
/// This is the only process a plugin ever starts.
/// </summary>
public static class IpamDelegate
{
    public static Result Add(CniRequest request)
    {
        byte[] output = Exec(request, "ADD");
        return ResultCodec.Parse(output);
    }

    public static void Del(CniRequest request) => Exec(request, "DEL");
    public static void Check(CniRequest request) => Exec(request, "CHECK");
    public static void Status(CniRequest request) => Exec(request, "STATUS");
    public static void Gc(CniRequest request) => Exec(request, "GC");

    /// <summary>
    /// Checks, before an ADD changes anything, that the IPAM plugin the config names can be run (a bare name found on
    /// CNI_PATH): code 7 otherwise, with nothing to undo.
    /// </summary>
    /// <remarks>
    /// When the IPAM plugin runs in-process and can prepare (<see cref="IPreparingIpam"/>), it is told here, so slow
    /// work without side effects (cluster-ipam: the TLS connection to etcd) overlaps the interface plugin's own set-up.
    /// </remarks>
    public static void EnsureAvailable(CniRequest request)
    {
        string exe = Find(request.Config.IpamType, request.Path);
        if (InProcessPlugins?.Invoke(request.Config.IpamType!) is IPreparingIpam plugin && IsThisProgram(exe))
            plugin.PrepareAdd(new CommandEnvironment(request.Environment, "ADD"), request.StdinData);
    }

    /// <summary>The executable for a plugin type, searched in CNI_PATH; code 7 when the name is not a bare name, or it is not found.</summary>
    public static string Find(string? type, IReadOnlyList<string> path)
    {
        if (string.IsNullOrEmpty(type))
            throw CniException.InvalidConfig("IPAM plugin type is missing");
        if (!Names.IsValidIdentifier(type) || type.Contains(".."))
            throw CniException.InvalidConfig($"invalid IPAM plugin type \"{type}\"", "a plugin type must be a bare name");
        foreach (string dir in path)
        {
            string candidate = System.IO.Path.Combine(dir, type);
            if (File.Exists(candidate)) return candidate;
        }
        throw CniException.InvalidConfig($"failed to find plugin \"{type}\" in path [{string.Join(" ", path)}]");
    }

    /// <summary>
    /// IPAM plugins this executable carries (by type), for <see cref="Exec"/>: when the executable found on
    /// CNI_PATH is this very program (same ELF build ID; build.sh gives every plugin of one build the same
    /// one), running it in-process gives exactly what executing it would, without a process start.
    /// </summary>
    public static Func<string, CniPlugin?>? InProcessPlugins { get; set; }

    private static byte[]? _ownBuildId;

    private static bool IsThisProgram(string exe)
    {
        _ownBuildId ??= ElfBuildId.Read("/proc/self/exe") ?? [];
        return _ownBuildId.Length > 0 && ElfBuildId.Read(exe) is { } id && id.AsSpan().SequenceEqual(_ownBuildId);
    }

    private static byte[] Exec(CniRequest request, string command)
    {
        string type = request.Config.IpamType!;
        string exe = Find(type, request.Path);
        var environment = new CommandEnvironment(request.Environment, command);
        ChildProcessResult run;
        try
        {
            run = InProcessPlugins?.Invoke(type) is { } plugin && IsThisProgram(exe)
                ? RunInProcess(plugin, environment, request.StdinData)
                : ChildProcess.Run(exe, [exe], environment, request.StdinData);
        }
        catch (LinuxException e)
        {
            throw new CniException(ErrorCode.Internal, $"failed to run IPAM plugin {exe}: {e.Message}");
        }
        if (run.ExitCode != 0) throw ErrorFrom(run.Stdout, exe, run.ExitCode);
        return run.Stdout;
    }

    private static ChildProcessResult RunInProcess(CniPlugin plugin, IReadOnlyDictionary<string, string> environment, byte[] stdin)
    {
        using var output = new MemoryStream();
        int exit = Dispatcher.Run(plugin, environment, new MemoryStream(stdin, writable: false), output, TextWriter.Null);
        return new ChildProcessResult(exit, output.ToArray());
    }

    /// <summary>
    /// The caller's environment with CNI_COMMAND replaced: single variables are looked up in the caller's
    /// (an in-process IPAM plugin reads half a dozen), the whole set is copied only when enumerated (a child
    /// process's environment).
    /// </summary>
    private sealed class CommandEnvironment(IReadOnlyDictionary<string, string> inner, string command) : IReadOnlyDictionary<string, string>
    {
        private const string Key = "CNI_COMMAND";

        public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out string value)
        {
            if (key == Key)
            {
                value = command;
                return true;
            }
            return inner.TryGetValue(key, out value);
        }

        public string this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException(key);
        public bool ContainsKey(string key) => key == Key || inner.ContainsKey(key);
        public int Count => inner.ContainsKey(Key) ? inner.Count : inner.Count + 1;
        public IEnumerable<string> Keys => this.Select(kv => kv.Key);
        public IEnumerable<string> Values => this.Select(kv => kv.Value);

        public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
        {
            foreach (var kv in inner)
                if (kv.Key != Key) yield return kv;
            yield return new KeyValuePair<string, string>(Key, command);
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Passes the delegated plugin's own error through unchanged.</summary>
    private static CniException ErrorFrom(byte[] output, string exe, int exitCode)
    {
        if (ReadError(output) is { } error && (error.Code != 0 || error.Msg.Length > 0))
            return new CniException(error.Code, error.Msg, error.Details);
        string text = System.Text.Encoding.UTF8.GetString(output).Trim();
        return new CniException(ErrorCode.Internal, $"IPAM plugin {Path.GetFileName(exe)} failed with exit code {exitCode}", text);
    }

    private static readonly JsonFields ErrorFields = new("cniVersion", "code", "msg", "details");

    /// <summary>A CNI error object (<c>code</c>, <c>msg</c>, <c>details</c>; other fields ignored), or null when the output is not one.</summary>
    internal static ErrorResult? ReadError(byte[] output)
    {
        try
        {
            var root = JsonRead.Parse(output).RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            var error = new ErrorResult();
            foreach (var p in root.EnumerateObject())
            {
                var v = p.Value;
                switch (ErrorFields.Match(p, "$"))
                {
                    case "cniVersion": error.CniVersion = JsonRead.String(v, "$.cniVersion"); break;
                    case "code": error.Code = JsonRead.Int32(v, "$.code"); break;
                    case "msg": error.Msg = JsonRead.String(v, "$.msg") ?? ""; break;
                    case "details": error.Details = JsonRead.String(v, "$.details"); break;
                }
            }
            return error;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// An in-process IPAM plugin that starts work without side effects when the interface plugin announces an ADD
/// (<see cref="IpamDelegate.EnsureAvailable"/>), before the interface plugin's own set-up; the ADD itself uses it
/// when it comes with the same config. Must not throw and must leave nothing behind when the ADD never comes.
/// </summary>
public interface IPreparingIpam
{
    void PrepareAdd(IReadOnlyDictionary<string, string> environment, byte[] stdinData);
}
