using Cni.Cri.V1;

namespace Cni.Cri;

/// <summary>
/// The pod options of <c>run</c> and <c>burst</c>, read from the command line, and the
/// <see cref="PodSandboxConfig"/> they make (what kubelet sends for a pod).
/// </summary>
public sealed class PodSpec
{
    public string Name { get; set; } = "pod";
    public string? Uid { get; set; }
    public string Namespace { get; set; } = "default";
    public uint Attempt { get; set; }
    public string? Hostname { get; set; }
    public string? LogDirectory { get; set; }
    public string? CgroupParent { get; set; }
    public bool HostNetwork { get; set; }
    public string? RuntimeHandler { get; set; }
    public List<PortMapping> Ports { get; } = [];
    public Dictionary<string, string> Labels { get; } = [];

    /// <summary>Burst only: pod i also maps TCP hostPortBase+i to containerPort 80 (0: none).</summary>
    public int HostPortBase { get; set; }

    /// <summary>Reads one option at args[i] (and its value); false when args[i] is not a pod option.</summary>
    public bool TryRead(string[] args, ref int i)
    {
        string Value(ref int j)
        {
            if (j + 1 >= args.Length) throw new UsageException($"{args[j]} needs a value");
            return args[++j];
        }
        switch (args[i])
        {
            case "--name": Name = Value(ref i); return true;
            case "--uid": Uid = Value(ref i); return true;
            case "--namespace": Namespace = Value(ref i); return true;
            case "--attempt": Attempt = uint.Parse(Value(ref i)); return true;
            case "--hostname": Hostname = Value(ref i); return true;
            case "--log-dir": LogDirectory = Value(ref i); return true;
            case "--cgroup-parent": CgroupParent = Value(ref i); return true;
            case "--host-network": HostNetwork = true; return true;
            case "--runtime-handler": RuntimeHandler = Value(ref i); return true;
            case "--port": Ports.Add(ParsePort(Value(ref i))); return true;
            case "--host-port-base": HostPortBase = int.Parse(Value(ref i)); return true;
            case "--label":
                string kv = Value(ref i);
                int eq = kv.IndexOf('=');
                if (eq <= 0) throw new UsageException($"--label wants KEY=VALUE, not {kv}");
                Labels[kv[..eq]] = kv[(eq + 1)..];
                return true;
            default: return false;
        }
    }

    /// <summary>PROTOCOL:CONTAINER_PORT:HOST_PORT[:HOST_IP], e.g. tcp:80:8080 or udp:53:5353:127.0.0.1.</summary>
    public static PortMapping ParsePort(string text)
    {
        string[] parts = text.Split(':', 4);
        if (parts.Length < 3) throw new UsageException($"--port wants PROTOCOL:CONTAINER_PORT:HOST_PORT[:HOST_IP], not {text}");
        var protocol = parts[0].ToLowerInvariant() switch
        {
            "tcp" => Protocol.Tcp,
            "udp" => Protocol.Udp,
            "sctp" => Protocol.Sctp,
            _ => throw new UsageException($"--port: unknown protocol {parts[0]}"),
        };
        return new PortMapping
        {
            Protocol = protocol,
            ContainerPort = int.Parse(parts[1]),
            HostPort = int.Parse(parts[2]),
            HostIp = parts.Length == 4 ? parts[3] : "",
        };
    }

    /// <summary>The request for this pod; index (burst) suffixes the name and picks the burst host port.</summary>
    public RunPodSandboxRequest Request(int? index = null)
    {
        string name = index is int n ? $"{Name}-{n}" : Name;
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata
            {
                Name = name,
                Uid = Uid is not null && index is null ? Uid : $"{Guid.NewGuid():D}",
                Namespace = Namespace,
                Attempt = Attempt,
            },
            // kubelet leaves the hostname empty for a hostNetwork pod (runc cannot set it without a UTS namespace).
            Hostname = Hostname ?? (HostNetwork ? "" : name),
            LogDirectory = LogDirectory ?? "",
            Linux = new LinuxPodSandboxConfig
            {
                CgroupParent = CgroupParent ?? "",
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption
                    {
                        Network = HostNetwork ? NamespaceMode.Node : NamespaceMode.Pod,
                        Pid = NamespaceMode.Container,
                        Ipc = NamespaceMode.Pod,
                    },
                },
            },
        };
        config.PortMappings.Add(Ports);
        if (index is int k && HostPortBase > 0)
            config.PortMappings.Add(new PortMapping { Protocol = Protocol.Tcp, ContainerPort = 80, HostPort = HostPortBase + k });
        foreach (var (key, value) in Labels) config.Labels[key] = value;
        return new RunPodSandboxRequest { Config = config, RuntimeHandler = RuntimeHandler ?? "" };
    }
}

public sealed class UsageException(string message) : Exception(message);
