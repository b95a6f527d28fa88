namespace Cni.Ipam;

/// <summary>DNS settings of a result, read from a resolv.conf file (<c>resolvConf</c> in the ipam config).</summary>
public sealed record DnsSettings(IReadOnlyList<string> Nameservers, string? Domain, IReadOnlyList<string> Search, IReadOnlyList<string> Options)
{
    /// <summary>Parses resolv.conf text like the reference: nameserver, domain, search and options lines; '#' and ';' start comments.</summary>
    public static DnsSettings ParseResolvConf(string text)
    {
        var ns = new List<string>();
        var search = new List<string>();
        var options = new List<string>();
        string? domain = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2) continue;
            switch (f[0])
            {
                case "nameserver": ns.Add(f[1]); break;
                case "domain": domain = f[1]; break;
                case "search": search.AddRange(f.Skip(1)); break;
                case "options": options.AddRange(f.Skip(1)); break;
            }
        }
        return new DnsSettings(ns, domain, search, options);
    }

    public static DnsSettings LoadResolvConf(string path)
    {
        try
        {
            return ParseResolvConf(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IpamConfigException($"failed to read resolvConf {path}: {e.Message}", e);
        }
    }
}
