using System.Net;
using Cni.Spec;

namespace Cni.Plugins.Bridge;

/// <summary>
/// What the IPAM result means for the bridge, computed without touching the kernel: every address points at
/// the container interface; a missing gateway is the first address of the subnet when the bridge is a
/// gateway; a default route per family is added when <c>isDefaultGateway</c> and IPAM gave none (an IPAM
/// default route without a gateway goes through the bridge gateway, it is not doubled); and the
/// bridge gets one gateway address per range, IPv4 and IPv6.
/// </summary>
public sealed class GatewayPlan
{
    /// <summary>Addresses to put on the bridge ("10.1.0.1/24"), in result order, without duplicates.</summary>
    public List<IPPrefix> BridgeAddresses { get; } = [];
    public bool HasV4Gateway => BridgeAddresses.Any(a => a.IsV4);
    public bool HasV6Gateway => BridgeAddresses.Any(a => !a.IsV4);

    /// <summary>Rewrites <paramref name="result"/>'s ips and routes in place, and returns the bridge's addresses.</summary>
    public static GatewayPlan Apply(Result result, BridgeConfig config, int containerInterfaceIndex)
    {
        var plan = new GatewayPlan();
        bool v4DefaultFound = false, v6DefaultFound = false;
        foreach (var ipc in result.IPs ?? [])
        {
            if (!IPPrefix.TryParse(ipc.Address, out var addr))
                throw new CniException(ErrorCode.Internal, $"IPAM returned an invalid address \"{ipc.Address}\"");
            ipc.Interface = containerInterfaceIndex;

            if (string.IsNullOrEmpty(ipc.Gateway) && config.ActsAsGateway)
                ipc.Gateway = FirstAddress(addr).ToString();

            if (config.IsDefaultGateway)
            {
                ref bool found = ref addr.IsV4 ? ref v4DefaultFound : ref v6DefaultFound;
                if (!found)
                    found = (result.Routes ?? []).Any(r => IsDefaultRoute(r.Dst, addr.IsV4));
                if (!found)
                {
                    result.Routes ??= [];
                    result.Routes.Add(new Route { Dst = addr.IsV4 ? "0.0.0.0/0" : "::/0", Gw = ipc.Gateway });
                    found = true;
                }
            }

            if (config.ActsAsGateway && !string.IsNullOrEmpty(ipc.Gateway))
            {
                if (!IPAddress.TryParse(ipc.Gateway, out var gw) || gw.AddressFamily != addr.Address.AddressFamily)
                    throw new CniException(ErrorCode.Internal, $"IPAM returned an invalid gateway \"{ipc.Gateway}\" for {ipc.Address}");
                var gwPrefix = new IPPrefix(gw, addr.PrefixLength);
                if (!plan.BridgeAddresses.Contains(gwPrefix)) plan.BridgeAddresses.Add(gwPrefix);
            }
        }
        return plan;
    }

    /// <summary>The subnet's first address (network + 1), the reference's gateway default.</summary>
    public static IPAddress FirstAddress(IPPrefix prefix)
    {
        byte[] b = prefix.Network.Address.GetAddressBytes();
        for (int i = b.Length - 1; i >= 0; i--)
        {
            if (++b[i] != 0) break;
        }
        return new IPAddress(b);
    }

    public static bool IsDefaultRoute(string dst, bool v4) =>
        IPPrefix.TryParse(dst, out var p) && p.PrefixLength == 0 && p.IsV4 == v4;
}
