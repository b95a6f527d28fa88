using Cni.Linux.Interop;
using System.Text.Json;

namespace Cni.Spec;

/// <summary>
/// Runs one plugin invocation: reads CNI_* from the environment and the config from stdin, checks
/// versions and names, calls the plugin, and prints its result or its error. The streams and the
/// environment are parameters so the whole flow is testable in memory.
/// </summary>
public static class Dispatcher
{
    private static readonly string[] Commands = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

    /// <summary>The entry point of a plugin executable.</summary>
    public static int Main(CniPlugin plugin)
    {
        // Plain read(2)/write(2) streams over descriptors 0, 1 and 2: System.Console would start its terminal
        // and signal handling first, which a plugin that lives for milliseconds does not need, and a FileStream
        // over a regular file would pread/pwrite at its own position and leave the descriptor's offset behind.
        using var stdin = DescriptorStream.ForReading(0);
        using var stdout = DescriptorStream.ForWriting(1);
        using var stderr = new StreamWriter(DescriptorStream.ForWriting(2));
        return Run(plugin, new ProcessEnvironment(), stdin, stdout, stderr);
    }

    [ThreadStatic] private static int t_depth;

    public static int Run(CniPlugin plugin, IReadOnlyDictionary<string, string> env, Stream stdin, Stream stdout, TextWriter stderr)
    {
        t_depth++;
        try
        {
            return RunCall(plugin, env, stdin, stdout, stderr);
        }
        finally
        {
            // The end of the plugin call (not of an IPAM plugin run in-process inside it): connections whose close
            // was put off are closed now, after all the call's other work.
            if (--t_depth == 0) Cni.Linux.Netfilter.NftConnection.CloseDeferred();
        }
    }

    private static int RunCall(CniPlugin plugin, IReadOnlyDictionary<string, string> env, Stream stdin, Stream stdout, TextWriter stderr)
    {
        string errorVersion = CniVersion.Current;
        try
        {
            string command = Get(env, "CNI_COMMAND");
            if (command.Length == 0)
            {
                stderr.WriteLine(plugin.About);
                stderr.WriteLine($"CNI protocol versions supported: {string.Join(", ", plugin.SupportedVersions)}");
                return 0;
            }
            if (Array.IndexOf(Commands, command) < 0)
                throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"unknown CNI_COMMAND: {command}");

            RequireVariables(env, command);
            byte[] input = ReadAll(stdin);

            if (command == "VERSION")
            {
                WriteVersion(plugin, input, stdout);
                return 0;
            }

            var config = NetworkConfig.Parse(input);
            string version = config.Version;
            if (CniVersion.IsSupported(version)) errorVersion = version;
            Names.ValidateNetworkName(config.Name);
            if (command is "ADD" or "DEL" or "CHECK")
            {
                Names.ValidateContainerId(Get(env, "CNI_CONTAINERID"));
                Names.ValidateInterfaceName(Get(env, "CNI_IFNAME"));
            }
            CheckVersion(plugin, command, version);

            var request = new CniRequest
            {
                Command = command,
                ContainerId = Get(env, "CNI_CONTAINERID"),
                Netns = Get(env, "CNI_NETNS"),
                IfName = Get(env, "CNI_IFNAME"),
                Args = CniArgs.Parse(Get(env, "CNI_ARGS")),
                Path = Get(env, "CNI_PATH").Split(':', StringSplitOptions.RemoveEmptyEntries),
                Config = config,
                StdinData = input,
                Environment = env,
            };

            switch (command)
            {
                case "ADD":
                    var result = plugin.Add(request);
                    stdout.Write(ResultCodec.Serialize(result, version));
                    break;
                case "DEL": plugin.Del(request); break;
                case "CHECK": plugin.Check(request); break;
                case "STATUS": plugin.Status(request); break;
                case "GC": plugin.Gc(request); break;
            }
            stdout.Flush();
            return 0;
        }
        catch (CniException e)
        {
            WriteError(stdout, errorVersion, e.Code, e.Message, e.Details);
            return 1;
        }
        catch (Exception e)
        {
            // Nothing escapes as a stack trace: an unexpected failure is still a CNI error.
            WriteError(stdout, errorVersion, ErrorCode.Internal, e.Message, e.GetType().Name);
            return 1;
        }
    }

    private static string Get(IReadOnlyDictionary<string, string> env, string key) =>
        env.TryGetValue(key, out var v) ? v : "";

    private static void RequireVariables(IReadOnlyDictionary<string, string> env, string command)
    {
        string[] required = command switch
        {
            "ADD" or "CHECK" => ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            "DEL" => ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
            "STATUS" or "GC" => ["CNI_PATH"],
            _ => [],
        };
        List<string>? missing = null;
        foreach (string key in required)
            if (Get(env, key).Length == 0) (missing ??= []).Add(key);
        if (missing is not null)
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"required env variables [{string.Join(",", missing)}] missing");
    }

    private static void CheckVersion(CniPlugin plugin, string command, string version)
    {
        if (!CniVersion.IsSupported(version) || !plugin.SupportedVersions.Contains(version))
            throw new CniException(ErrorCode.IncompatibleVersion, "incompatible CNI versions",
                $"config is \"{version}\", plugin supports [{string.Join(" ", plugin.SupportedVersions)}]");
        if (command == "CHECK" && !CniVersion.AtLeast(version, CniVersion.V040))
            throw new CniException(ErrorCode.IncompatibleVersion, "config version does not allow CHECK", $"CHECK needs cniVersion 0.4.0 or later, config is {version}");
        if (command is "STATUS" or "GC" && !CniVersion.AtLeast(version, CniVersion.V110))
            throw new CniException(ErrorCode.IncompatibleVersion, $"config version does not allow {command}", $"{command} needs cniVersion 1.1.0 or later, config is {version}");
    }

    private static void WriteVersion(CniPlugin plugin, byte[] input, Stream stdout)
    {
        // VERSION may carry {"cniVersion": "x"}; the answer names that version when the plugin speaks it.
        string answer = CniVersion.Current;
        if (input.AsSpan().Trim(" \t\r\n"u8).Length > 0)
        {
            try
            {
                var doc = JsonDocument.Parse(input); // not disposed: see JsonRead.ReadDocument
                if (doc.RootElement.ValueKind == JsonValueKind.Object &&
                    JsonFields.TryGet(doc.RootElement, "cniVersion", out var v) && v.ValueKind == JsonValueKind.String &&
                    v.GetString() is { } s && plugin.SupportedVersions.Contains(s))
                    answer = s;
            }
            catch (JsonException) { /* VERSION does not depend on its input */ }
        }
        // Two fields: written by hand, because serializer metadata for them would cost more than VERSION itself.
        using var json = new Utf8JsonWriter(stdout, JsonOutput.WriterOptions);
        json.WriteStartObject();
        json.WriteString("cniVersion"u8, answer);
        json.WriteStartArray("supportedVersions"u8);
        foreach (string v in plugin.SupportedVersions) json.WriteStringValue(v);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteError(Stream stdout, string version, int code, string msg, string? details)
    {
        // Disposing the writer writes its buffer to stdout and flushes it.
        using var json = new Utf8JsonWriter(stdout, JsonOutput.WriterOptions);
        json.WriteStartObject();
        json.WriteString("cniVersion"u8, version);
        json.WriteNumber("code"u8, code);
        json.WriteString("msg"u8, msg);
        if (!string.IsNullOrEmpty(details)) json.WriteString("details"u8, details);
        json.WriteEndObject();
    }

    /// <summary>
    /// All of stdin. Read into a 4 KiB buffer that doubles when full (a config is a few hundred bytes to a few
    /// KiB): Stream.CopyTo would rent a 128 KiB buffer, pages a short-lived process would have to fault in.
    /// </summary>
    /// <summary>
    /// The most stdin a plugin reads. A config with a prevResult of many addresses is tens of KiB; a larger input
    /// is refused before it is parsed, rather than being taken for a config (100 MB of padding parse as one).
    /// </summary>
    public const int MaxConfigBytes = 16 << 20;

    private static byte[] ReadAll(Stream stream)
    {
        try
        {
            byte[] buffer = new byte[4096];
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= MaxConfigBytes)
                        throw new CniException(ErrorCode.DecodingFailure, $"network config on stdin is larger than {MaxConfigBytes >> 20} MiB",
                            "a plugin's input is a network configuration; this much is not one");
                    Array.Resize(ref buffer, Math.Min(checked(buffer.Length * 2), MaxConfigBytes));
                }
                int n = stream.Read(buffer, length, buffer.Length - length);
                if (n == 0) break;
                length += n;
            }
            return buffer.AsSpan(0, length).ToArray();
        }
        catch (IOException e)
        {
            throw new CniException(ErrorCode.IOFailure, $"error reading from stdin: {e.Message}");
        }
    }
}
