using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// A bridge configuration after validation: everything ADD, DEL and CHECK need, checked before any
/// side effect. Pure; built by <see cref="From"/>.
/// </summary>
public sealed class BridgeOptions
{
    public required BridgeConfig Config { get; init; }
    public required string NetworkName { get; init; }
    public required string Bridge { get; init; }
    /// <summary>The container interface's MAC, from runtimeConfig.mac, args.cni.mac or MAC= in CNI_ARGS (in that priority).</summary>
    public HardwareAddress? Mac { get; init; }
    /// <summary>The trunk VLAN IDs, sorted, without duplicates; empty when there is no trunk.</summary>
    public IReadOnlyList<int> TrunkVlans { get; init; } = [];
    public bool HasIpam { get; init; }

    public int Mtu => Config.Mtu;

    public static BridgeOptions From(CniRequest request) =>
        From(BridgeConfig.Parse(request.StdinData), request.Config, request.Args);

    public static BridgeOptions From(BridgeConfig c, NetworkConfig net, CniArgs args)
    {
        string bridge = c.Bridge;
        if (Names.InterfaceNameProblem(bridge) is { } problem)
            throw CniException.InvalidConfig($"invalid bridge name \"{bridge}\": {problem}");

        if (c.Vlan < 0 || c.Vlan > 4094)
            throw CniException.InvalidConfig($"invalid VLAN ID {c.Vlan} (must be between 0 and 4094)");
        var trunk = CollectTrunk(c.VlanTrunk);
        if (c.Vlan > 0 && trunk.Count > 0)
            throw CniException.InvalidConfig("cannot set vlan and vlanTrunk at the same time");

        if (c.Mtu != 0 && (c.Mtu < 68 || c.Mtu > 65535))
            throw CniException.InvalidConfig($"invalid mtu {c.Mtu} (must be 0 for the default, or between 68 and 65535)");

        if (c.HairpinMode && c.PromiscMode)
            throw CniException.InvalidConfig("cannot set hairpin mode and promiscuous mode at the same time");

        bool hasIpam = !string.IsNullOrEmpty(net.IpamType);
        if (c.DisableContainerInterface && hasIpam)
            throw CniException.InvalidConfig("cannot use IPAM when DisableContainerInterface flag is set");

        if (c.IPMasqBackend is not (null or "" or "iptables" or "nftables"))
            throw CniException.InvalidConfig($"invalid ipMasqBackend \"{c.IPMasqBackend}\" (expected \"iptables\" or \"nftables\")");

        if (c.Internal && c.IPMasq)
            throw CniException.InvalidConfig("internal and ipMasq cannot be set together: an internal network has no way out to masquerade");
        if (c.Internal && c.IsDefaultGateway)
            throw CniException.InvalidConfig("internal and isDefaultGateway cannot be set together: an internal network has no route out");

        // Validate the MAC sources in the reference's order of precedence: CNI_ARGS, then args, then runtimeConfig.
        args.EnsureKnown("MAC");
        HardwareAddress? mac = null;
        mac = ParseMac(args.Get("MAC"), "CNI_ARGS MAC") ?? mac;
        mac = ParseMac(c.Args?.Cni?.Mac, "args.cni.mac") ?? mac;
        mac = ParseMac(c.RuntimeConfig?.Mac, "runtimeConfig.mac") ?? mac;

        // Checked last so every plain mistake is reported first.
        if (c.Vlan > 0 || trunk.Count > 0)
            throw new CniException(ErrorCode.UnsupportedField,
                "vlan and vlanTrunk need bridge VLAN filtering, which this kernel does not provide",
                "creating a bridge with vlan_filtering fails with EOPNOTSUPP on this kernel; remove vlan/vlanTrunk from the config");

        return new BridgeOptions
        {
            Config = c,
            NetworkName = net.Name ?? "",
            Bridge = bridge,
            Mac = mac,
            TrunkVlans = trunk,
            HasIpam = hasIpam,
        };
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

    /// <summary>The reference's trunk rules: a range needs both minID and maxID, IDs are 1..4094.</summary>
    public static IReadOnlyList<int> CollectTrunk(List<VlanTrunk>? items)
    {
        if (items is null) return [];
        var set = new SortedSet<int>();
        foreach (var item in items)
        {
            if (item.MinId is { } min && item.MaxId is { } max)
            {
                if (min <= 0 || min > 4094) throw CniException.InvalidConfig("incorrect trunk minID parameter");
                if (max <= 0 || max > 4094) throw CniException.InvalidConfig("incorrect trunk maxID parameter");
                if (max < min) throw CniException.InvalidConfig("minID is greater than maxID in trunk parameter");
                for (int v = min; v <= max; v++) set.Add(v);
            }
            else if (item.MinId is null && item.MaxId is not null)
                throw CniException.InvalidConfig("minID and maxID should be configured simultaneously, minID is missing");
            else if (item.MinId is not null && item.MaxId is null)
                throw CniException.InvalidConfig("minID and maxID should be configured simultaneously, maxID is missing");

            if (item.Id is { } id)
            {
                if (id <= 0 || id > 4094) throw CniException.InvalidConfig("incorrect trunk id parameter");
                set.Add(id);
            }
        }
        return [.. set];
    }
}
