using System.Net;
using System.Net.Sockets;
using Cni.Linux.Namespaces;
using Cni.Linux.Netfilter;
using Xunit.Abstractions;

namespace Cni.Linux.Tests;

public sealed class ConntrackTests : IDisposable
{
    private readonly TestNamespace _ns = new();
    private readonly ITestOutputHelper _output;

    public ConntrackTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _ns.Dispose();

    private string ConntrackList() => _ns.Exec("conntrack", "-L", "-p", "udp");

    [SkippableFact]
    public void Udp_flows_to_a_destination_port_are_deleted_and_others_kept()
    {
        Skip.If(!File.Exists("/usr/sbin/conntrack"), "the conntrack tool is not installed (used to read state back)");
        _ns.Exec("ip", "link", "set", "lo", "up");
        // Conntrack only tracks a namespace once a rule needs it.
        _ns.Exec("nft", "add table inet cnitest; add chain inet cnitest out { type filter hook output priority 0; ct state new accept; }");

        using NetNs ns = _ns.Open();
        using Socket receiver = ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using Socket other = ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)receiver.LocalEndPoint!).Port;
        int otherPort = ((IPEndPoint)other.LocalEndPoint!).Port;

        using Socket sender = ns.Run(() => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        sender.SendTo([1, 2, 3], new IPEndPoint(IPAddress.Loopback, port));
        sender.SendTo([1, 2, 3], new IPEndPoint(IPAddress.Loopback, otherPort));

        string before = ConntrackList();
        Assert.Contains($"dport={port}", before);
        Assert.Contains($"dport={otherPort}", before);

        using Conntrack conntrack = Conntrack.OpenIn(ns);
        Assert.Equal(1, conntrack.DeleteByDestination(ProtocolType.Udp, IPAddress.Loopback, (ushort)port));

        string after = ConntrackList();
        Assert.DoesNotContain($"dport={port} ", after);
        Assert.Contains($"dport={otherPort}", after);
        Assert.Equal(0, conntrack.DeleteByDestination(ProtocolType.Udp, IPAddress.Loopback, (ushort)port));
        Assert.Equal(0, conntrack.DeleteByDestination(ProtocolType.Tcp, IPAddress.Loopback, (ushort)otherPort));
    }
}
