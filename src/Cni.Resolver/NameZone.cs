using System.Net;

namespace Cni.Resolver;

/// <summary>What the zone says about a question.</summary>
public enum LookupOutcome
{
    /// <summary>The name is the asker's network's: the answers (possibly none of the asked type).</summary>
    Local,
    /// <summary>Not a name of the asker's networks: forward it upstream.</summary>
    Forward,
    /// <summary>Not a local name and the asker's network is internal: NXDOMAIN, nothing forwarded.</summary>
    NxDomain,
    /// <summary>The asker is on none of the networks: refused (the resolver is no open resolver).</summary>
    Refused,
}

/// <summary>
/// An immutable snapshot of every network's names, built from the names files; the resolver swaps in a new one when a
/// file changes. A question is answered in the scope of the networks whose subnets hold the asker's address: a
/// container resolves only names of networks it is on. A name answers as itself, as an alias, and under the network's
/// domain (<c>web</c>, <c>www</c>, <c>web.dns.podman</c>); several containers under one alias give several records.
/// </summary>
public sealed class NameZone
{
    private sealed class Network(string name, NetworkNames names)
    {
        public readonly string Name = name;
        public readonly NetworkNames Names = names;
        public readonly Dictionary<string, List<IPAddress>> Forward = new(StringComparer.Ordinal);
        public readonly Dictionary<IPAddress, string> Reverse = [];
    }

    private readonly List<Network> _networks = [];

    public static readonly NameZone Empty = new([]);

    public NameZone(IEnumerable<(string Network, NetworkNames Names)> networks)
    {
        foreach (var (name, names) in networks)
        {
            var n = new Network(name, names);
            foreach (var e in names.Entries)
            {
                Add(n, e.Name, e.Addresses);
                Add(n, $"{e.Name}.{names.Domain}", e.Addresses);
                foreach (var alias in e.Aliases)
                {
                    Add(n, alias, e.Addresses);
                    Add(n, $"{alias}.{names.Domain}", e.Addresses);
                }
                foreach (var a in e.Addresses) n.Reverse.TryAdd(a, $"{e.Name}.{names.Domain}");
            }
            _networks.Add(n);
        }
    }

    private static void Add(Network n, string name, IReadOnlyList<IPAddress> addresses)
    {
        if (!n.Forward.TryGetValue(name, out var list)) n.Forward[name] = list = [];
        foreach (var a in addresses) if (!list.Contains(a)) list.Add(a);
    }

    /// <summary>The addresses the resolver must answer on (every network's resolvers).</summary>
    public IReadOnlyCollection<IPAddress> ResolverAddresses
    {
        get
        {
            var set = new HashSet<IPAddress>();
            foreach (var n in _networks) foreach (var r in n.Names.Resolvers) set.Add(r);
            return set;
        }
    }

    public int NetworkCount => _networks.Count;

    public LookupOutcome Lookup(IPAddress asker, string name, ushort type, List<DnsWire.Answer> answers, uint ttl)
    {
        if (asker.IsIPv4MappedToIPv6) asker = asker.MapToIPv4();
        bool any = false, internalOnly = true, known = false;
        foreach (var n in _networks)
        {
            if (!InScope(n, asker)) continue;
            any = true;
            internalOnly &= n.Names.Internal;
            if (n.Forward.TryGetValue(name, out var addresses))
            {
                known = true;
                foreach (var a in addresses)
                {
                    bool v4 = a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
                    if ((type == DnsType.A && v4) || (type == DnsType.Aaaa && !v4) || type == DnsType.Any)
                        if (!answers.Exists(x => x.Data.AsSpan().SequenceEqual(a.GetAddressBytes()))) answers.Add(DnsWire.Answer.For(a, ttl));
                }
            }
            else if (type is DnsType.Ptr or DnsType.Any && DnsWire.ReverseAddress(name) is { } ip && n.Reverse.TryGetValue(ip, out var target))
            {
                known = true;
                if (answers.Count == 0) answers.Add(DnsWire.Answer.Ptr(target, ttl));
            }
            else if (IsUnderDomain(name, n.Names.Domain))
            {
                known = true; // the network's own domain: never forwarded, NXDOMAIN below when nothing matched
            }
        }
        if (!any) return LookupOutcome.Refused;
        if (known) return answers.Count > 0 || NameExists(asker, name) ? LookupOutcome.Local : LookupOutcome.NxDomain;
        return internalOnly ? LookupOutcome.NxDomain : LookupOutcome.Forward;
    }

    private bool NameExists(IPAddress asker, string name)
    {
        foreach (var n in _networks)
            if (InScope(n, asker) && (n.Forward.ContainsKey(name) || (DnsWire.ReverseAddress(name) is { } ip && n.Reverse.ContainsKey(ip)))) return true;
        return false;
    }

    private static bool IsUnderDomain(string name, string domain) =>
        name == domain || (name.Length > domain.Length && name.EndsWith(domain, StringComparison.Ordinal) && name[^(domain.Length + 1)] == '.');

    private static bool InScope(Network n, IPAddress asker)
    {
        foreach (var s in n.Names.Subnets) if (s.Contains(asker)) return true;
        return false;
    }
}
