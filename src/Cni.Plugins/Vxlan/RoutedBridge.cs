using Cni.Linux.Interop;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// The bridge's settings in routed mode, written in the calling thread's namespace (the host's): the containers' addresses
/// are on-link in the pool's prefix, so a container ARPs for a remote container's address; with <c>proxy_arp</c> the bridge
/// answers with its own MAC when the route to that address leaves by another device (the vxlan device's block routes), and
/// the packet is routed. <c>proxy_delay</c> 0: the kernel otherwise answers a broadcast request by proxy after a random
/// delay of up to 0.8 s. Forwarding is on already (the bridge carries the IPv4 gateway, as with isGateway).
/// The reverse-path filter needs nothing: a decapsulated packet arrives on the vxlan device, and the route back to its
/// source (the remote block) leaves by that same device, which passes the strict check too.
/// </summary>
public static class RoutedBridge
{
    public static IReadOnlyList<(string Key, string Value)> Settings(string bridge) =>
    [
        ($"net/ipv4/conf/{bridge}/proxy_arp", "1"),
        ($"net/ipv4/neigh/{bridge}/proxy_delay", "0"),
        ("net/ipv4/ip_forward", "1"),
    ];

    public static void Prepare(string bridge)
    {
        foreach (var (key, value) in Settings(bridge))
        {
            try
            {
                if (Cni.Linux.Sysctl.Read(key) != value) Cni.Linux.Sysctl.Write(key, value);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"routed mode: failed to set {key} to {value}: {e.Message}");
            }
        }
    }

    public static void Check(string bridge)
    {
        foreach (var (key, value) in Settings(bridge))
        {
            string? now;
            try { now = Cni.Linux.Sysctl.Read(key); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException) { now = null; }
            if (now != value)
                throw new CniException(ErrorCode.FirstPluginCode, $"routed mode: {key} is {now ?? "unreadable"}, want {value}");
        }
    }
}
