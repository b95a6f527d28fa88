using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// Where the overlay's registrations live under the cluster prefix P:
/// <code>
/// P/vxlan/v1/vteps/&lt;vni&gt;/&lt;node&gt;   one host's VTEP, attached to a lease (it goes when its host stops renewing)
/// </code>
/// and the cluster-ipam blocks a node holds (read, keys only): P/ipam/v1/blocks/&lt;node&gt;/.
/// </summary>
public static class VtepKeys
{
    public static string Vteps(string prefix, uint vni) => $"{prefix.TrimEnd('/')}/vxlan/v1/vteps/{vni.ToString(CultureInfo.InvariantCulture)}/";
    public static string Vtep(string prefix, uint vni, string node) => Vteps(prefix, vni) + node;
    public static string IpamBlocks(string prefix, string node) => new Cni.Ipam.Cluster.KeyLayout(prefix).NodeBlocks(node);

    /// <summary>A block key's last segment ("10.244.0.64-26") as a CIDR; null when it is not one.</summary>
    public static string? BlockFromKey(string key)
    {
        string last = key[(key.LastIndexOf('/') + 1)..];
        int dash = last.LastIndexOf('-');
        if (dash <= 0) return null;
        string cidr = last[..dash] + "/" + last[(dash + 1)..];
        return IPPrefix.TryParse(cidr, out _) ? cidr : null;
    }
}

/// <summary>One host's VTEP as registered: node name, VNI, the underlay address its VTEP sends from, the VTEP's MAC, the UDP
/// port, and the cluster-ipam blocks the node held when it registered.</summary>
public sealed record VtepRegistration(string Node, uint Vni, IPAddress Underlay, HardwareAddress VtepMac, ushort Port, IReadOnlyList<string> Blocks)
{
    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("node", Node);
            w.WriteNumber("vni", Vni);
            w.WriteString("underlay", Underlay.ToString());
            w.WriteString("vtepMac", VtepMac.ToString());
            w.WriteNumber("port", Port);
            w.WriteStartArray("blocks");
            foreach (var b in Blocks) w.WriteStringValue(b);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static readonly JsonFields Fields = new("node", "vni", "underlay", "vtepMac", "port", "blocks");

    /// <summary>Decodes a registration; null when it is unreadable (another version's, or damaged): such a host is ignored, never acted on.</summary>
    public static VtepRegistration? Decode(ReadOnlySpan<byte> value)
    {
        try
        {
            return JsonRead.ReadDocument(value, lenient: false, root =>
            {
                if (root.ValueKind != JsonValueKind.Object) return null;
                string? node = null, underlay = null, mac = null;
                long vni = 0, port = VxlanOptions.DefaultPort;
                var blocks = new List<string>();
                foreach (var p in root.EnumerateObject())
                {
                    switch (Fields.Match(p))
                    {
                        case "node": node = JsonRead.String(p.Value, "$.node"); break;
                        case "vni": vni = JsonRead.NullableInt64(p.Value, "$.vni") ?? 0; break;
                        case "underlay": underlay = JsonRead.String(p.Value, "$.underlay"); break;
                        case "vtepMac": mac = JsonRead.String(p.Value, "$.vtepMac"); break;
                        case "port": port = JsonRead.NullableInt64(p.Value, "$.port") ?? VxlanOptions.DefaultPort; break;
                        case "blocks": blocks = JsonRead.StringList(p.Value, "$.blocks") ?? []; break;
                    }
                }
                if (string.IsNullOrEmpty(node) || vni is < 1 or > VxlanOptions.MaxVni || port is < 1 or > 65535) return null;
                if (!IPAddress.TryParse(underlay, out var address) || !HardwareAddress.TryParse(mac, out var hw)) return null;
                return new VtepRegistration(node, (uint)vni, address, hw, (ushort)port, blocks);
            });
        }
        catch (Exception e) when (e is JsonException or CniException or FormatException)
        {
            return null;
        }
    }
}
