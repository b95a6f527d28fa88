using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cni.Resolver;

/// <summary>One attachment's names on a network: the container's name, its aliases and its addresses.</summary>
public sealed record NameEntry(string ContainerId, string IfName, string Name, IReadOnlyList<IPAddress> Addresses, IReadOnlyList<string> Aliases);

/// <summary>An address prefix (network address and length), as the names file keeps a network's subnets.</summary>
public readonly record struct Subnet(IPAddress Network, int Length)
{
    public bool Contains(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4();
        if (a.AddressFamily != Network.AddressFamily) return false;
        Span<byte> x = stackalloc byte[16], n = stackalloc byte[16];
        a.TryWriteBytes(x, out int len);
        Network.TryWriteBytes(n, out _);
        int bits = Length;
        for (int i = 0; i < len && bits > 0; i++, bits -= 8)
        {
            int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
            if ((x[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }

    public override string ToString() => $"{Network}/{Length.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string s, out Subnet subnet)
    {
        subnet = default;
        int slash = s.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(s.AsSpan(0, slash), out var a)) return false;
        if (!int.TryParse(s.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int len)) return false;
        if (len < 0 || len > (a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128)) return false;
        subnet = new Subnet(Masked(a, len), len);
        return true;
    }

    private static IPAddress Masked(IPAddress a, int len)
    {
        byte[] b = a.GetAddressBytes();
        for (int i = 0; i < b.Length; i++)
        {
            int keep = Math.Clamp(len - i * 8, 0, 8);
            b[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPAddress(b);
    }
}

/// <summary>
/// The names of one network, as the <c>dnsname</c> plugin writes them and the node agent's resolver serves them: a
/// text file per network, one fact per line, tab-separated.
/// <code>
/// sharpcni-dnsname 1
/// domain    dns.podman
/// internal  0
/// resolver  10.88.0.1                     (the addresses the resolver answers on: the network's gateways)
/// subnet    10.88.0.0/16                  (who may ask: containers whose source address is in one)
/// entry     &lt;container ID&gt;  &lt;ifname&gt;  &lt;name&gt;  &lt;address,address&gt;  &lt;alias,alias&gt;
/// </code>
/// Readers skip lines they do not know and entries they cannot read, so a newer writer never breaks an older reader.
/// </summary>
public sealed class NetworkNames
{
    public const string Header = "sharpcni-dnsname 1";
    public const string DefaultDomain = "dns.podman";

    public string Domain { get; set; } = DefaultDomain;
    public bool Internal { get; set; }
    public List<IPAddress> Resolvers { get; } = [];
    public List<Subnet> Subnets { get; } = [];
    public List<NameEntry> Entries { get; } = [];

    public static NetworkNames Parse(string text)
    {
        var n = new NetworkNames();
        foreach (var raw in text.Split('\n'))
        {
            var f = raw.TrimEnd('\r').Split('\t');
            switch (f[0])
            {
                case "domain" when f.Length >= 2 && DnsName.IsValid(f[1]):
                    n.Domain = DnsName.Normalize(f[1]);
                    break;
                case "internal" when f.Length >= 2:
                    n.Internal = f[1] == "1";
                    break;
                case "resolver" when f.Length >= 2 && IPAddress.TryParse(f[1], out var r):
                    if (!n.Resolvers.Contains(r)) n.Resolvers.Add(r);
                    break;
                case "subnet" when f.Length >= 2 && Subnet.TryParse(f[1], out var s):
                    if (!n.Subnets.Contains(s)) n.Subnets.Add(s);
                    break;
                case "entry" when f.Length >= 5:
                    if (ParseEntry(f) is { } e) n.Entries.Add(e);
                    break;
            }
        }
        return n;
    }

    private static NameEntry? ParseEntry(string[] f)
    {
        if (f[1].Length == 0 || f[2].Length == 0 || !DnsName.IsValid(f[3])) return null;
        var addresses = new List<IPAddress>();
        foreach (var a in f[4].Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!IPAddress.TryParse(a, out var ip)) return null;
            addresses.Add(ip);
        }
        var aliases = new List<string>();
        if (f.Length >= 6)
        {
            foreach (var a in f[5].Split(',', StringSplitOptions.RemoveEmptyEntries))
                if (DnsName.IsValid(a)) aliases.Add(DnsName.Normalize(a));
        }
        return new NameEntry(f[1], f[2], DnsName.Normalize(f[3]), addresses, aliases);
    }

    public string Format()
    {
        var b = new StringBuilder(128 + 96 * Entries.Count);
        b.Append(Header).Append('\n');
        b.Append("domain\t").Append(Domain).Append('\n');
        b.Append("internal\t").Append(Internal ? '1' : '0').Append('\n');
        foreach (var r in Resolvers) b.Append("resolver\t").Append(r).Append('\n');
        foreach (var s in Subnets) b.Append("subnet\t").Append(s).Append('\n');
        foreach (var e in Entries)
        {
            b.Append("entry\t").Append(e.ContainerId).Append('\t').Append(e.IfName).Append('\t').Append(e.Name).Append('\t');
            b.AppendJoin(',', e.Addresses).Append('\t').AppendJoin(',', e.Aliases).Append('\n');
        }
        return b.ToString();
    }
}

/// <summary>Host names as the resolver keeps them: lower case, no trailing dot, labels of letters, digits, '-' and '_'.</summary>
public static class DnsName
{
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name)) return false;
        if (name.EndsWith('.')) name = name[..^1];
        if (name.Length is 0 or > 253) return false;
        int label = 0;
        foreach (char c in name)
        {
            if (c == '.')
            {
                if (label == 0) return false;
                label = 0;
                continue;
            }
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_')) return false;
            if (++label > 63) return false;
        }
        return label > 0;
    }

    public static string Normalize(string name) => name.TrimEnd('.').ToLowerInvariant();
}
