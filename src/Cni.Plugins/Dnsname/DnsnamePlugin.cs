using System.Net;
using Cni.Resolver;
using Cni.Spec;

namespace Cni.Plugins.Dnsname;

/// <summary>
/// The dnsname meta plugin, config-compatible with podman's: ADD records the container's addresses under its name
/// (<c>K8S_POD_NAME</c> in CNI_ARGS, where podman puts the container name) and its aliases for this network in the
/// network's names file (<see cref="NameStore"/>), and returns prevResult with the resolver's addresses (the network's
/// gateways, where the node agent answers) first in <c>dns.nameservers</c> and the domain first in <c>dns.search</c>.
/// DEL removes the entry and tolerates missing state; CHECK finds it; GC drops entries of attachments that are gone.
/// It starts no process: the node agent (<c>sharpcni-agent</c>) serves the files.
/// </summary>
public sealed class DnsnamePlugin : CniPlugin
{
    public override string Name => "dnsname";

    public override Result Add(CniRequest request)
    {
        var c = DnsnameConfig.Parse(request.StdinData);
        string network = NetworkOf(request);
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "dnsname: must be called as a chained plugin (prevResult missing)");
        string name = ContainerName(request);

        var addresses = new List<IPAddress>();
        var resolvers = new List<IPAddress>();
        var subnets = new List<Subnet>();
        foreach (var ip in prev.IPs ?? [])
        {
            var prefix = ip.Prefix;
            addresses.Add(prefix.Address);
            var s = new Subnet(prefix.Network.Address, prefix.PrefixLength);
            if (!subnets.Contains(s)) subnets.Add(s);
            if (ip.Gateway is { } gw && IPAddress.TryParse(gw, out var g) && !resolvers.Contains(g)) resolvers.Add(g);
        }
        if (addresses.Count == 0)
            throw new CniException(ErrorCode.InvalidNetworkConfig, "dnsname: prevResult has no IP address to give a name to");
        if (resolvers.Count == 0)
            throw new CniException(ErrorCode.InvalidNetworkConfig,
                "dnsname: prevResult has no gateway: the resolver answers on the network's gateway address (set isGateway on the bridge)");
        // IPv4 first, as podman's dnsname lists the gateway the containers mostly ask.
        resolvers.Sort((a, b) => a.AddressFamily.CompareTo(b.AddressFamily));

        var aliases = c.Aliases.TryGetValue(network, out var a) ? a : [];
        var store = new NameStore(c.DataDir);
        Write(store, network, n =>
        {
            n.Domain = c.Domain;
            n.Internal = c.Internal;
            foreach (var r in resolvers) if (!n.Resolvers.Contains(r)) n.Resolvers.Add(r);
            foreach (var s in subnets) if (!n.Subnets.Contains(s)) n.Subnets.Add(s);
            n.Entries.RemoveAll(e => e.ContainerId == request.ContainerId && e.IfName == request.IfName);
            n.Entries.Add(new NameEntry(request.ContainerId, request.IfName, name, addresses, aliases));
        });

        prev.Dns ??= new Cni.Spec.Dns();
        var servers = resolvers.Select(r => r.ToString()).ToList();
        foreach (var s in prev.Dns.Nameservers ?? []) if (!servers.Contains(s)) servers.Add(s);
        prev.Dns.Nameservers = servers;
        var search = new List<string> { c.Domain };
        foreach (var s in prev.Dns.Search ?? []) if (!search.Contains(s)) search.Add(s);
        prev.Dns.Search = search;
        return prev;
    }

    public override void Del(CniRequest request)
    {
        var c = DnsnameConfig.Parse(request.StdinData);
        string network = NetworkOf(request);
        var store = new NameStore(c.DataDir);
        bool recorded = store.Read(network) is { } names && names.Entries.Exists(e => e.ContainerId == request.ContainerId && e.IfName == request.IfName);
        // Not recorded: never added, removed before, or /run was cleared by a reboot; or an ADD was killed before its
        // rename, whose temporary file the update (under the lock) writes over or removes.
        if (!recorded && !File.Exists(store.TempOf(network))) return;
        Write(store, network, n => n.Entries.RemoveAll(e => e.ContainerId == request.ContainerId && e.IfName == request.IfName));
    }

    public override void Check(CniRequest request)
    {
        var c = DnsnameConfig.Parse(request.StdinData);
        string network = NetworkOf(request);
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "dnsname: must be called as a chained plugin (prevResult missing)");
        var entry = new NameStore(c.DataDir).Read(network)?.Entries.Find(e => e.ContainerId == request.ContainerId && e.IfName == request.IfName)
            ?? throw new CniException(ErrorCode.FirstPluginCode, $"dnsname: no name recorded for container {request.ContainerId} ({request.IfName}) on network {network}");
        foreach (var ip in prev.IPs ?? [])
        {
            if (!entry.Addresses.Contains(ip.Prefix.Address))
                throw new CniException(ErrorCode.FirstPluginCode, $"dnsname: {ip.Prefix.Address} of container {request.ContainerId} is not recorded under its name {entry.Name}");
        }
    }

    public override void Gc(CniRequest request)
    {
        var c = DnsnameConfig.Parse(request.StdinData);
        string network = NetworkOf(request);
        var valid = new HashSet<Attachment>(request.ValidAttachments);
        var store = new NameStore(c.DataDir);
        bool stale = store.Read(network) is { } names && !names.Entries.TrueForAll(e => valid.Contains(new Attachment(e.ContainerId, e.IfName)));
        if (!stale && !File.Exists(store.TempOf(network))) return;
        Write(store, network, n => n.Entries.RemoveAll(e => !valid.Contains(new Attachment(e.ContainerId, e.IfName))));
    }

    private static string NetworkOf(CniRequest request)
    {
        string? network = request.Config.Name;
        Names.ValidateNetworkName(network);
        return network!;
    }

    private static string ContainerName(CniRequest request)
    {
        string? name = request.Args.Get("K8S_POD_NAME");
        if (string.IsNullOrEmpty(name))
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, "dnsname: required CNI variable K8S_POD_NAME is not set (the container's name)");
        if (!DnsName.IsValid(name))
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"dnsname: container name \"{name}\" is not a valid host name");
        return DnsName.Normalize(name);
    }

    private static void Write(NameStore store, string network, Action<NetworkNames> change)
    {
        try
        {
            store.Update(network, change);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(ErrorCode.IOFailure, $"dnsname: failed to update the names of network {network} in {store.Directory}: {e.Message}");
        }
    }
}
