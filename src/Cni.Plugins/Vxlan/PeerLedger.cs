using System.Globalization;
using System.Net;
using System.Text;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// What the cluster mode programmed on this host for one overlay: for each remote node, the underlay address its flood
/// entry points at, and the vxlan device (ifindex) they were added to. A kernel FDB entry carries no tag, so this file is
/// the mark that tells the plugin's and the agent's entries from anybody else's: only entries listed here are ever removed.
/// It lives next to the network's lock (/run/sharpcni/vxlan-&lt;vni&gt;-&lt;node&gt;.peers, gone at reboot with the entries)
/// and is read and written under that lock. Entries recorded for another ifindex died with that device and are dropped.
/// <para>Routed mode records its FDB, neighbour and route entries (<see cref="Routed"/>) as lines
/// <c>routed fdb|neigh|route NODE KEY VALUE</c>; layer-2 mode its flood entries as <c>peer NODE ADDRESS</c>.</para>
/// </summary>
public sealed class PeerLedger
{
    public int DeviceIndex { get; private set; }
    public SortedDictionary<string, IPAddress> Peers { get; } = new(StringComparer.Ordinal);
    /// <summary>Routed mode's entries (see <see cref="RoutedOverlay"/>).</summary>
    public List<RoutedEntry> Routed { get; set; } = [];

    public static string PathFor(string directory, uint vni, string node) =>
        System.IO.Path.Combine(directory, $"vxlan-{vni.ToString(CultureInfo.InvariantCulture)}-{node}.peers");

    /// <summary>The ledger for device <paramref name="deviceIndex"/>; empty when the file is missing, unreadable or about another device.</summary>
    public static PeerLedger Load(string path, int deviceIndex)
    {
        var ledger = new PeerLedger { DeviceIndex = deviceIndex };
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ledger; }
        bool sameDevice = false;
        foreach (string line in lines)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == "device")
                sameDevice = int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i == deviceIndex;
            else if (sameDevice && parts.Length == 3 && parts[0] == "peer" && IPAddress.TryParse(parts[2], out var ip))
                ledger.Peers[parts[1]] = ip;
            else if (sameDevice && parts.Length == 5 && parts[0] == "routed" && KindOf(parts[1]) is { } kind)
                ledger.Routed.Add(new RoutedEntry(kind, parts[3], parts[4], parts[2]));
        }
        return ledger;
    }

    /// <summary>Writes the ledger (a temporary file renamed over the old one).</summary>
    public void Save(string path)
    {
        var text = new StringBuilder();
        text.Append("device ").Append(DeviceIndex.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var (node, ip) in Peers) text.Append("peer ").Append(node).Append(' ').Append(ip).Append('\n');
        foreach (var e in Routed)
            text.Append("routed ").Append(NameOf(e.Kind)).Append(' ').Append(e.Node).Append(' ').Append(e.Key).Append(' ').Append(e.Value).Append('\n');
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text.ToString());
        File.Move(tmp, path, overwrite: true);
    }

    private static string NameOf(RoutedKind kind) => kind switch { RoutedKind.Fdb => "fdb", RoutedKind.Neigh => "neigh", _ => "route" };

    private static RoutedKind? KindOf(string name) => name switch
    {
        "fdb" => RoutedKind.Fdb,
        "neigh" => RoutedKind.Neigh,
        "route" => RoutedKind.Route,
        _ => null,
    };
}
