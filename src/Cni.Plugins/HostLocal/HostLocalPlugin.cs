using Cni.Ipam;
using Cni.Spec;

namespace Cni.Plugins.HostLocal;

/// <summary>
/// The host-local IPAM plugin: hands out addresses from the ranges of the network config, recorded in the
/// reference's on-disk store so it can share a store with the reference plugin.
/// </summary>
public sealed class HostLocalPlugin : CniPlugin
{
    public override string Name => "host-local";

    public override Result Add(CniRequest request)
    {
        var ipam = Open(request);
        var allocation = Run(() => ipam.Add(Attachment(request)));
        return ToResult(allocation);
    }

    public override void Del(CniRequest request)
    {
        var ipam = Open(request);
        Run(() => ipam.Del(Attachment(request)));
    }

    public override void Check(CniRequest request)
    {
        var ipam = Open(request);
        if (Run(() => ipam.Check(Attachment(request))).Count == 0)
            throw new CniException(ErrorCode.Internal, $"host-local: Failed to find address added by container {request.ContainerId}");
    }

    public override void Status(CniRequest request)
    {
        var ipam = Open(request);
        try
        {
            ipam.Status();
        }
        catch (StoreIOException e)
        {
            throw new CniException(ErrorCode.PluginNotAvailable, "host-local: address store is not writable", e.Message, e);
        }
    }

    public override void Gc(CniRequest request)
    {
        var ipam = Open(request);
        var valid = request.ValidAttachments.Select(a => new Cni.Ipam.Attachment(a.ContainerId, a.IfName)).ToList();
        Run(() => ipam.Gc(valid));
    }

    private static IpamRequest Attachment(CniRequest request) => new(request.ContainerId, request.IfName);

    private static HostLocalIpam Open(CniRequest request)
    {
        request.Environment.TryGetValue("CNI_ARGS", out var cniArgs);
        var config = Run(() => IpamConfig.Parse(request.StdinData, cniArgs));
        return HostLocalIpam.OnDisk(config);
    }

    /// <summary>Maps IPAM failures to CNI error codes.</summary>
    private static T Run<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (IpamConfigException e)
        {
            throw new CniException(ErrorCode.InvalidNetworkConfig, e.Message, null, e);
        }
        catch (StoreLockTimeoutException e)
        {
            throw new CniException(ErrorCode.TryAgainLater, e.Message, null, e);
        }
        catch (StoreIOException e)
        {
            throw new CniException(ErrorCode.IOFailure, e.Message, null, e);
        }
        catch (IpamException e)
        {
            throw new CniException(ErrorCode.Internal, e.Message, null, e);
        }
    }

    /// <summary>The spec's result: one ip per range set (no interface index; IPAM plugins create none), routes, dns.</summary>
    internal static Result ToResult(IpamAllocation allocation)
    {
        var result = new Result
        {
            IPs = allocation.Addresses.Select(a => new IPConfig
            {
                Address = a.Address.ToString(),
                Gateway = IPAddressMath.Format(a.Gateway),
            }).ToList(),
        };
        if (allocation.Routes.Count > 0)
            result.Routes = allocation.Routes.Select(r => new Route
            {
                Dst = r.Destination.ToString(),
                Gw = r.Gateway is null ? null : IPAddressMath.Format(r.Gateway),
            }).ToList();
        if (allocation.Dns is { } dns)
            result.Dns = new Dns
            {
                Nameservers = [.. dns.Nameservers],
                Domain = dns.Domain,
                Search = [.. dns.Search],
                Options = [.. dns.Options],
            };
        return result;
    }
}
