using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Cni.Cri;
using Cni.Cri.V1;

// cri-client: the calls kubelet makes to a CRI runtime for a pod sandbox, one per command, for the
// integration scenario and the burst benchmark. Exit 0 on success, 1 on a failed call, 2 on bad usage.
return await CriClientCommand.RunAsync(args);

internal static class CriClientCommand
{
    private const string Usage = """
        usage: cri-client [--endpoint unix:///path.sock] [--timeout SECONDS] COMMAND
          version                 runtime name, version and CRI API version
          status                  one line per runtime condition: TYPE true|false REASON MESSAGE
          run [POD OPTIONS]       starts a pod sandbox, prints its ID
          inspect ID              state and addresses: "state SANDBOX_READY", "ip 10.0.0.2", ...
          stop ID                 StopPodSandbox
          remove ID               RemovePodSandbox
          burst N [POD OPTIONS]   N RunPodSandbox in parallel, then N Stop, then N Remove in parallel;
                                  prints "run|stop|remove I MS" per call and "wall run|stop|remove MS"
        pod options: --name N (burst: N-I) --uid U --namespace NS --attempt A --hostname H --log-dir DIR
                     --cgroup-parent P --host-network --runtime-handler H --label K=V
                     --port PROTO:CONTAINER_PORT:HOST_PORT[:HOST_IP] (repeatable)
                     --host-port-base B (burst: pod I also maps tcp:80:B+I)
        The endpoint defaults to $CRI_ENDPOINT, else unix:///run/containerd/containerd.sock.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        string endpoint = Environment.GetEnvironmentVariable("CRI_ENDPOINT") ?? "unix:///run/containerd/containerd.sock";
        double timeout = 120;
        int i = 0;
        try
        {
            for (; i < args.Length && args[i].StartsWith("--", StringComparison.Ordinal); i++)
            {
                if (args[i] == "--endpoint" && i + 1 < args.Length) endpoint = args[++i];
                else if (args[i] == "--timeout" && i + 1 < args.Length) timeout = double.Parse(args[++i], CultureInfo.InvariantCulture);
                else throw new UsageException($"unknown option {args[i]}");
            }
            if (i >= args.Length) throw new UsageException("no command");
            string command = args[i++];
            string[] rest = args[i..];
            using var cri = new CriConnection(endpoint) { CallTimeout = TimeSpan.FromSeconds(timeout) };
            return command switch
            {
                "version" => await Version(cri),
                "status" => await Status(cri),
                "run" => await Run(cri, ReadPod(rest, 0)),
                "inspect" => await Inspect(cri, OneId(rest)),
                "stop" => await Stop(cri, OneId(rest)),
                "remove" => await Remove(cri, OneId(rest)),
                "burst" => await Burst(cri, rest.Length > 0 ? int.Parse(rest[0]) : throw new UsageException("burst needs N"), ReadPod(rest, 1)),
                "help" or "--help" => Help(),
                _ => throw new UsageException($"unknown command {command}"),
            };
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"cri-client: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"cri-client: {e.Message}");
            return 2;
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"cri-client: {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
    }

    private static int Help()
    {
        Console.WriteLine(Usage);
        return 0;
    }

    private static PodSpec ReadPod(string[] args, int start)
    {
        var pod = new PodSpec();
        for (int i = start; i < args.Length; i++)
            if (!pod.TryRead(args, ref i)) throw new UsageException($"unknown pod option {args[i]}");
        return pod;
    }

    private static string OneId(string[] args) =>
        args.Length == 1 && args[0].Length > 0 ? args[0] : throw new UsageException("needs exactly one pod sandbox ID");

    private static async Task<int> Version(CriConnection cri)
    {
        var v = await cri.Runtime.VersionAsync(new VersionRequest { Version = "v1" }, cri.Call());
        Console.WriteLine($"{v.RuntimeName} {v.RuntimeVersion} (CRI {v.RuntimeApiVersion}, API {v.Version})");
        return 0;
    }

    private static async Task<int> Status(CriConnection cri)
    {
        var s = await cri.Runtime.StatusAsync(new StatusRequest(), cri.Call());
        foreach (var c in s.Status?.Conditions ?? [])
            Console.WriteLine($"{c.Type} {(c.Status ? "true" : "false")} {Word(c.Reason)} {c.Message}".TrimEnd());
        return 0;
    }

    private static string Word(string s) => s.Length == 0 ? "-" : s;

    private static async Task<int> Run(CriConnection cri, PodSpec pod)
    {
        var r = await cri.Runtime.RunPodSandboxAsync(pod.Request(), cri.Call());
        Console.WriteLine(r.PodSandboxId);
        return 0;
    }

    private static async Task<int> Inspect(CriConnection cri, string id)
    {
        var r = await cri.Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = id }, cri.Call());
        var s = r.Status;
        Console.WriteLine($"id {s.Id}");
        Console.WriteLine($"name {s.Metadata?.Namespace}/{s.Metadata?.Name}");
        Console.WriteLine($"state {(s.State == PodSandboxState.SandboxReady ? "SANDBOX_READY" : "SANDBOX_NOTREADY")}");
        if (s.Network is { } n)
        {
            if (n.Ip.Length > 0) Console.WriteLine($"ip {n.Ip}");
            foreach (var extra in n.AdditionalIps) Console.WriteLine($"ip {extra.Ip}");
        }
        return 0;
    }

    private static async Task<int> Stop(CriConnection cri, string id)
    {
        await cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = id }, cri.Call());
        return 0;
    }

    private static async Task<int> Remove(CriConnection cri, string id)
    {
        await cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = id }, cri.Call());
        return 0;
    }

    /// <summary>
    /// N pods at once, as kubelet starts a drained node's pods: every RunPodSandbox in flight together, then
    /// every StopPodSandbox, then every RemovePodSandbox. Pods that did start are always stopped and removed.
    /// </summary>
    private static async Task<int> Burst(CriConnection cri, int n, PodSpec pod)
    {
        if (n < 1) throw new UsageException("burst needs N >= 1");
        // One call first so the connection (and the runtime's first-call work) is not in the burst's time.
        await cri.Runtime.VersionAsync(new VersionRequest { Version = "v1" }, cri.Call());
        var ids = new string?[n];
        int failures = 0;

        async Task<(double Ms, string? Error)> Timed(Func<Task> call)
        {
            long start = Stopwatch.GetTimestamp();
            try
            {
                await call();
                return (Stopwatch.GetElapsedTime(start).TotalMilliseconds, null);
            }
            catch (RpcException e)
            {
                return (Stopwatch.GetElapsedTime(start).TotalMilliseconds, $"{e.StatusCode}: {e.Status.Detail}");
            }
        }

        async Task Phase(string name, Func<int, Task> call, Func<int, bool> applies)
        {
            long start = Stopwatch.GetTimestamp();
            var tasks = new Task<(double Ms, string? Error)>[n];
            for (int i = 0; i < n; i++)
            {
                int k = i;
                tasks[i] = applies(k) ? Timed(() => call(k)) : Task.FromResult((0.0, (string?)"skipped"));
            }
            var results = await Task.WhenAll(tasks);
            double wall = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            for (int i = 0; i < n; i++)
            {
                var (ms, error) = results[i];
                if (error == "skipped") continue;
                if (error is null) Console.WriteLine(FormattableString.Invariant($"{name} {i} {ms:F1}"));
                else
                {
                    failures++;
                    Console.Error.WriteLine($"cri-client: {name} {i}: {error}");
                }
            }
            Console.WriteLine(FormattableString.Invariant($"wall {name} {wall:F1}"));
        }

        await Phase("run", async k => ids[k] = (await cri.Runtime.RunPodSandboxAsync(pod.Request(k), cri.Call())).PodSandboxId, _ => true);
        await Phase("stop", k => cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = ids[k] }, cri.Call()).ResponseAsync, k => ids[k] is not null);
        await Phase("remove", k => cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = ids[k] }, cri.Call()).ResponseAsync, k => ids[k] is not null);
        return failures == 0 ? 0 : 1;
    }
}
