using System.Net.Sockets;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Macvlan;

/// <summary>
/// A macvlan configuration after the checks that need no kernel: mode, MTU range, MAC sources, the master's
/// name. Pure; built by <see cref="From(CniRequest)"/> before any side effect. What needs the kernel (the
/// master exists, is Ethernet-like, its MTU) is checked by <see cref="MacvlanMaster"/>, still before any change.
/// </summary>
public sealed class MacvlanOptions
{
    /// <summary>The smallest MTU the kernel accepts for an Ethernet-like link (ETH_MIN_MTU).</summary>
    public const int MinimumMtu = 68;

    public required MacvlanConfig Config { get; init; }
    /// <summary>The configured master, or null when it is to be found from the default route.</summary>
    public string? Master { get; init; }
    public MacvlanMode Mode { get; init; } = MacvlanMode.Bridge;
    /// <summary>The requested MTU, or null for the master's.</summary>
    public int? Mtu { get; init; }
    /// <summary>From the config's <c>mac</c>, overridden by <c>MAC=</c> in CNI_ARGS, overridden by runtimeConfig.mac (the reference's order).</summary>
    public HardwareAddress? Mac { get; init; }
    public bool LinkInContainer => Config.LinkInContainer;
    public bool HasIpam { get; init; }

    public static MacvlanOptions From(CniRequest request) =>
        From(MacvlanConfig.Parse(request.StdinData), request.Config, request.Args);

    public static MacvlanOptions From(MacvlanConfig c, NetworkConfig net, CniArgs args)
    {
        string? master = string.IsNullOrEmpty(c.Master) ? null : c.Master;
        if (master is not null && Names.InterfaceNameProblem(master) is { } problem)
            throw CniException.InvalidConfig($"invalid master \"{master}\": {problem}");

        var mode = ParseMode(c.Mode);

        if (c.Mtu < 0 || (c.Mtu > 0 && c.Mtu < MinimumMtu) || c.Mtu > 65535)
            throw CniException.InvalidConfig($"invalid MTU {c.Mtu}, must be 0 (the master's) or between {MinimumMtu} and the master's MTU");

        args.EnsureKnown("MAC");
        HardwareAddress? mac = ParseMac(c.Mac, "mac");
        mac = ParseMac(args.Get("MAC"), "CNI_ARGS MAC") ?? mac;
        mac = ParseMac(c.RuntimeConfig?.Mac, "runtimeConfig.mac") ?? mac;

        return new MacvlanOptions
        {
            Config = c,
            Master = master,
            Mode = mode,
            Mtu = c.Mtu == 0 ? null : c.Mtu,
            Mac = mac,
            HasIpam = !string.IsNullOrEmpty(net.IpamType),
        };
    }

    /// <summary>The reference's mode names; empty is bridge. "source" is accepted as the kernel knows it.</summary>
    public static MacvlanMode ParseMode(string? mode) => mode switch
    {
        null or "" or "bridge" => MacvlanMode.Bridge,
        "private" => MacvlanMode.Private,
        "vepa" => MacvlanMode.Vepa,
        "passthru" => MacvlanMode.Passthru,
        "source" => MacvlanMode.Source,
        _ => throw CniException.InvalidConfig($"unknown macvlan mode: \"{mode}\"", "mode must be one of bridge, private, vepa, passthru, source"),
    };

    public static string ModeName(MacvlanMode mode) => mode switch
    {
        MacvlanMode.Bridge => "bridge",
        MacvlanMode.Private => "private",
        MacvlanMode.Vepa => "vepa",
        MacvlanMode.Passthru => "passthru",
        MacvlanMode.Source => "source",
        _ => $"unknown ({(uint)mode})",
    };

    /// <summary>
    /// The reference's default master: the output link of the first default route of the main table,
    /// IPv4 routes before IPv6. Routes without an output link (multipath, blackhole) are skipped. Null if none.
    /// </summary>
    public static int? DefaultRouteLink(IEnumerable<RouteEntry> routes)
    {
        RouteEntry? best = null;
        foreach (var r in routes)
        {
            if (r.PrefixLength != 0 || r.OutputIndex is not > 0 || r.Table != RouteSocket.RT_TABLE_MAIN) continue;
            if (best is null || (best.Family == AddressFamily.InterNetworkV6 && r.Family == AddressFamily.InterNetwork))
                best = r;
        }
        return best?.OutputIndex;
    }

    private static HardwareAddress? ParseMac(string? text, string source)
    {
        if (string.IsNullOrEmpty(text)) return null;
        if (!HardwareAddress.TryParse(text, out var mac))
            throw CniException.InvalidConfig($"invalid MAC address \"{text}\" in {source}");
        if (mac.IsMulticast || mac.IsZero)
            throw CniException.InvalidConfig($"MAC address \"{text}\" in {source} is not a unicast address");
        return mac;
    }
}
