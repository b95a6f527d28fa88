using System.Text.RegularExpressions;
using Cni.Spec;

namespace Cni.Plugins.Tuning;

/// <summary>One sysctl to set: the key as configured (what the allow-list matches) and its path under /proc/sys.</summary>
public sealed record SysctlSetting(string Key, string Path, string Value);

/// <summary>
/// A tuning configuration after every check that needs no kernel, built before any change: sysctl keys turned into
/// paths that stay under <c>/proc/sys/net</c> and allowed by the allow-list, the MAC from its sources in the reference's
/// order (config, <c>MAC=</c> in CNI_ARGS, the <c>mac</c> capability, <c>args.cni.mac</c>), the link attributes, and
/// where the previous values are kept.
/// </summary>
public sealed class TuningOptions
{
    /// <summary>The reference's <c>dataDir</c> default; /var/run is a link to /run.</summary>
    public const string DefaultDataDir = "/run/cni/tuning";
    /// <summary>The reference's allow-list: one regular expression per line; when the file exists, every sysctl key must match one.</summary>
    public const string DefaultAllowlist = "/etc/cni/tuning/allowlist.conf";

    public IReadOnlyList<SysctlSetting> Sysctls { get; init; } = [];
    public HardwareAddress? Mac { get; init; }
    public bool Promisc { get; init; }
    public int Mtu { get; init; }
    public int? TxQLen { get; init; }
    public bool? Allmulti { get; init; }
    public string DataDir { get; init; } = DefaultDataDir;

    /// <summary>Something of the link itself is changed (and so saved first).</summary>
    public bool ChangesLink => Mac is not null || Promisc || Mtu != 0 || TxQLen is not null || Allmulti is not null;

    /// <param name="allowlist">The allow-list file; the plugin passes <see cref="DefaultAllowlist"/>, tests their own.</param>
    public static TuningOptions From(TuningConfig c, CniArgs args, string ifName, string allowlist)
    {
        args.EnsureKnown("MAC");
        HardwareAddress? mac = ParseMac(c.Mac, "mac");
        mac = ParseMac(args.Get("MAC"), "CNI_ARGS MAC") ?? mac;
        mac = ParseMac(c.RuntimeMac, "runtimeConfig.mac") ?? mac;
        mac = ParseMac(c.Args?.Mac, "args.cni.mac") ?? mac;

        var sysctl = new List<KeyValuePair<string, string>>(c.Sysctl);
        foreach (var kv in c.Args?.Sysctl ?? [])
        {
            int at = sysctl.FindIndex(x => x.Key == kv.Key);
            if (at >= 0) sysctl[at] = kv;
            else sysctl.Add(kv);
        }
        var patterns = ReadAllowlist(allowlist);
        var settings = new List<SysctlSetting>(sysctl.Count);
        foreach (var (key, value) in sysctl)
        {
            string path = PathOf(key, ifName);
            if (patterns is not null && !patterns.Any(p => p.IsMatch(key)))
                throw CniException.InvalidConfig($"Sysctl {key} is not allowed. Only the following sysctls are allowed: [{string.Join(" ", patterns.Select(p => p.ToString()))}]",
                    $"allow-list {allowlist}");
            settings.Add(new SysctlSetting(key, path, value));
        }

        int mtu = c.Args?.Mtu ?? c.Mtu;
        if (mtu != 0 && (mtu < 68 || mtu > 65535))
            throw CniException.InvalidConfig($"invalid mtu {mtu} (must be between 68 and 65535)");
        int? txQLen = c.Args?.TxQLen ?? c.TxQLen;
        if (txQLen < 0)
            throw CniException.InvalidConfig($"invalid txQLen {txQLen} (must not be negative)");

        string dataDir = string.IsNullOrEmpty(c.DataDir) ? DefaultDataDir : c.DataDir;
        if (!dataDir.StartsWith('/'))
            throw CniException.InvalidConfig($"dataDir \"{dataDir}\" must be an absolute path");

        return new TuningOptions
        {
            Sysctls = settings,
            Mac = mac,
            Promisc = c.Args?.Promisc ?? c.Promisc,
            Mtu = mtu,
            TxQLen = txQLen,
            Allmulti = c.Args?.Allmulti ?? c.Allmulti,
            DataDir = dataDir,
        };
    }

    /// <summary>
    /// The /proc/sys path (relative, "net/...") of a configured key: dots are separators unless the key already uses
    /// slashes (the reference turns every dot into a slash; a key written with slashes keeps an interface name's dots
    /// here), then the first <c>IFNAME</c> becomes the interface name. The result must stay under <c>net/</c>: no
    /// empty, "." or ".." component.
    /// </summary>
    public static string PathOf(string key, string ifName)
    {
        string path = key.Contains('/') ? key : key.Replace('.', '/');
        int at = path.IndexOf("IFNAME", StringComparison.Ordinal);
        if (at >= 0) path = string.Concat(path.AsSpan(0, at), ifName, path.AsSpan(at + "IFNAME".Length));
        string[] parts = path.Split('/');
        if (parts.Length < 2 || parts[0] != "net" || parts.Any(p => p.Length == 0 || p is "." or ".." || p.Contains('\0')))
            throw CniException.InvalidConfig($"invalid net sysctl key: \"{key}\"", "a key must name a file under /proc/sys/net, without empty, \".\" or \"..\" parts");
        return path;
    }

    /// <summary>The allow-list's patterns, or null when the file does not exist (then every net sysctl is allowed).</summary>
    public static IReadOnlyList<Regex>? ReadAllowlist(string file)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(ErrorCode.IOFailure, $"failed to read the sysctl allow-list {file}: {e.Message}");
        }
        var patterns = new List<Regex>();
        foreach (string line in text.Split('\n'))
        {
            string pattern = line.Trim();
            if (pattern.Length == 0) continue;
            try
            {
                patterns.Add(new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)));
            }
            catch (ArgumentException e)
            {
                throw CniException.InvalidConfig($"invalid pattern \"{pattern}\" in the sysctl allow-list {file}: {e.Message}");
            }
        }
        return patterns;
    }

    private static HardwareAddress? ParseMac(string? text, string source)
    {
        if (string.IsNullOrEmpty(text)) return null;
        if (!HardwareAddress.TryParse(text, out var mac))
            throw CniException.InvalidConfig($"invalid args {text} for MAC addr", $"from {source}");
        if (mac.IsMulticast || mac.IsZero)
            throw CniException.InvalidConfig($"MAC address \"{text}\" in {source} is not a unicast address");
        return mac;
    }
}
