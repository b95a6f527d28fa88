// Measures the netlink work of one CNI ADD+DEL for a veth interface, inside two throwaway
// namespaces ("host" and "container"); the root namespace is never touched.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Cni.Linux.Namespaces;
using Cni.Linux.Route;

int iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 500;
const int Warmup = 30;

string suffix = Guid.NewGuid().ToString("N")[..8];
string hostName = "cnibench-h-" + suffix, containerName = "cnibench-c-" + suffix;
Ip("netns", "add", hostName);
try
{
    Ip("netns", "add", containerName);
    try
    {
        Run(hostName, containerName, iterations);
    }
    finally
    {
        Ip("netns", "del", containerName);
    }
}
finally
{
    Ip("netns", "del", hostName);
}

static void Run(string hostName, string containerName, int iterations)
{
    using NetNs host = NetNs.OpenNamed(hostName);
    using NetNs container = NetNs.OpenNamed(containerName);
    using RouteSocket hostRoutes = RouteSocket.OpenIn(host);
    using RouteSocket containerRoutes = RouteSocket.OpenIn(container);

    string[] names = ["create veth (peer in ns)", "get host link", "get container link", "add host address",
        "add container address", "host link up", "container link up", "add default route", "delete veth"];
    var samples = names.Select(_ => new List<double>()).ToArray();
    var totals = new List<double>();
    var hostIp = IPAddress.Parse("10.200.0.1");
    var containerIp = IPAddress.Parse("10.200.0.2");
    var spec = new VethSpec("veth-bench", "eth0") { PeerNamespace = container, Mtu = 1500 };

    long Tick() => Stopwatch.GetTimestamp();
    double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    for (int i = 0; i < Warmup + iterations; i++)
    {
        var t = new long[names.Length + 1];
        t[0] = Tick();
        hostRoutes.AddLink(spec); t[1] = Tick();
        int h = hostRoutes.GetLink("veth-bench")!.Index; t[2] = Tick();
        int c = containerRoutes.GetLink("eth0")!.Index; t[3] = Tick();
        hostRoutes.AddAddress(h, hostIp, 24, RouteSocket.BroadcastOf(hostIp, 24)); t[4] = Tick();
        containerRoutes.AddAddress(c, containerIp, 24, RouteSocket.BroadcastOf(containerIp, 24)); t[5] = Tick();
        hostRoutes.SetLinkUp(h); t[6] = Tick();
        containerRoutes.SetLinkUp(c); t[7] = Tick();
        containerRoutes.AddRoute(RouteEntry.Default(hostIp)); t[8] = Tick();
        if (!hostRoutes.DeleteLink(h))
        {
            throw new InvalidOperationException("veth vanished");
        }
        t[9] = Tick();
        if (i < Warmup)
        {
            continue;
        }
        for (int k = 0; k < names.Length; k++)
        {
            samples[k].Add(Ms(t[k], t[k + 1]));
        }
        totals.Add(Ms(t[0], t[names.Length]));
    }

    Console.WriteLine($"iterations: {iterations} (after {Warmup} warm-up), times in ms");
    Console.WriteLine($"{"operation",-28} {"median",8} {"p90",8}");
    for (int k = 0; k < names.Length; k++)
    {
        Console.WriteLine($"{names[k],-28} {Percentile(samples[k], 50),8:F3} {Percentile(samples[k], 90),8:F3}");
    }
    Console.WriteLine($"{"whole sequence",-28} {Percentile(totals, 50),8:F3} {Percentile(totals, 90),8:F3}");
    var withoutDelete = totals.Select((total, i) => total - samples[^1][i]).ToList();
    Console.WriteLine($"{"sequence without delete",-28} {Percentile(withoutDelete, 50),8:F3} {Percentile(withoutDelete, 90),8:F3}");
}

static double Percentile(List<double> values, int percent)
{
    var sorted = values.Order().ToArray();
    int index = (int)Math.Ceiling(percent / 100.0 * sorted.Length) - 1;
    return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
}

static void Ip(params string[] arguments)
{
    var info = new ProcessStartInfo("ip") { UseShellExecute = false };
    foreach (string argument in arguments)
    {
        info.ArgumentList.Add(argument);
    }
    using Process process = Process.Start(info)!;
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException("ip " + string.Join(' ', arguments) + " failed");
    }
}
