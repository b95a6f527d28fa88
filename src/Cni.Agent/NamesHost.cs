using System.Net;
using Cni.Firewall;
using Cni.Linux.Netfilter;
using Cni.Resolver;

namespace Cni.Agent;

/// <summary>
/// The agent's resolver for the dnsname plugin's networks (<see cref="ResolverService"/>): it serves the names files
/// in <c>--names-dir</c>, forwards to the resolvers of <c>--resolv-conf</c>, and keeps the firewall's guard of port 53
/// (<see cref="ResolverGuardRules"/>) in step with the addresses it answers on. It runs whether or not there are
/// names yet: a network's first dnsname ADD makes it listen within a poll.
/// </summary>
public sealed class NamesHost(string namesDir, string resolvConf, TextWriter log) : IDisposable
{
    private ResolverService? _service;

    public void Start()
    {
        _service = new ResolverService(new ResolverOptions
        {
            NamesDirectory = namesDir,
            ResolvConf = resolvConf,
            ResolversChanged = Guard,
        }, line => log.WriteLine($"sharpcni-agent: {line}"));
        _service.Start();
        log.WriteLine($"sharpcni-agent: serving the names in {namesDir}");
    }

    private static void Guard(IReadOnlyCollection<IPAddress> resolvers)
    {
        using var nft = NftConnection.Open();
        if (resolvers.Count == 0) ResolverGuardRules.Remove(nft);
        else nft.Commit(ResolverGuardRules.Apply(resolvers));
    }

    public void Dispose() => _service?.Dispose();
}
