using System.Net;
using System.Net.Sockets;

namespace Cni.Firewall;

/// <summary>Transport protocols a port can be published for (IANA protocol numbers, as <c>meta l4proto</c> compares them).</summary>
public enum PortProtocol : byte
{
    Tcp = 6,
    Udp = 17,
    Sctp = 132,
}

/// <summary>
/// One published port: traffic to <see cref="HostPort"/> on a local address of the node (only
/// <see cref="HostIP"/> when given) goes to <see cref="ContainerPort"/> of the container.
/// </summary>
public sealed record PortMapping(ushort HostPort, ushort ContainerPort, PortProtocol Protocol, IPAddress? HostIP = null)
{
    /// <summary>No host address, or the unspecified address of a family: every local address (of that family).</summary>
    public bool IsWildcard => HostIP is null || HostIP.Equals(IPAddress.Any) || HostIP.Equals(IPAddress.IPv6Any);

    /// <summary>Whether the mapping applies to a container address of <paramref name="family"/> (a host address of the other family does not).</summary>
    public bool AppliesTo(AddressFamily family) => HostIP is null || HostIP.AddressFamily == family;

    public override string ToString() =>
        $"{(HostIP is null ? "" : HostIP.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{HostIP}]:" : $"{HostIP}:")}{HostPort}->{ContainerPort}/{Protocol.ToString().ToLowerInvariant()}";
}

/// <summary>The portmap options that shape the rules, with the reference plugin's meanings.</summary>
public sealed record PortMappingOptions
{
    /// <summary>Reference default for <c>markMasqBit</c>.</summary>
    public const int DefaultMarkMasqBit = 13;

    /// <summary><c>snat</c>: masquerade hairpin and localhost connections (default true). Off: neither is masqueraded and 127.0.0.1 is not mapped.</summary>
    public bool Snat { get; init; } = true;

    /// <summary>Connections to 127.0.0.1:hostPort reach the container (needs route_localnet and masquerade); only with <see cref="Snat"/>.</summary>
    public bool Localhost { get; init; } = true;

    /// <summary><c>masqAll</c>: masquerade every DNATed connection to the container, not only hairpin and localhost ones.</summary>
    public bool MasqueradeAll { get; init; }

    /// <summary>
    /// <c>markMasqBit</c>: packets carrying this mark bit are masqueraded (the reference's CNI-HOSTPORT-MASQ);
    /// null when the masquerade mark is someone else's (<c>externalSetMarkChain</c>).
    /// </summary>
    public int? MarkMasqBit { get; init; } = DefaultMarkMasqBit;
}

/// <summary>A published (protocol, host address, host port) as installed; <see cref="HostIP"/> null means every local address of <see cref="Family"/>.</summary>
public readonly record struct PublishedPort(PortProtocol Protocol, AddressFamily Family, IPAddress? HostIP, ushort HostPort);
