using System.Buffers;
using System.Net;
using System.Text.Json;

namespace Cni.Ipam.Cluster;

/// <summary>
/// A block held by one node: which offsets are allocated and to which attachment ("containerID/ifname"), where the
/// next search starts (addresses are handed out in turn, so a released address is not reused at once), and since
/// when it has been empty (unix seconds; 0 while it holds addresses).
/// </summary>
public sealed class BlockRecord
{
    public required AddressPrefix Cidr { get; init; }
    public required AddressPrefix Pool { get; init; }
    public required string Node { get; init; }
    public SortedDictionary<ulong, string> Allocations { get; init; } = [];
    public ulong Next { get; set; }
    public long EmptySince { get; set; }

    public static string Handle(string containerId, string ifName) => $"{containerId}/{ifName}";

    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>(256 + 48 * Allocations.Count);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Cni.Spec.AsciiJsonEncoder.Instance }))
        {
            w.WriteStartObject();
            w.WriteString("cidr", Cidr.ToString());
            w.WriteString("pool", Pool.ToString());
            w.WriteString("node", Node);
            w.WriteNumber("next", Next);
            if (EmptySince != 0) w.WriteNumber("emptySince", EmptySince);
            w.WriteStartObject("allocations");
            foreach (var (offset, handle) in Allocations) w.WriteString(offset.ToString(System.Globalization.CultureInfo.InvariantCulture), handle);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static BlockRecord Decode(byte[] value)
    {
        try
        {
            using var doc = JsonDocument.Parse(value);
            var root = doc.RootElement;
            var block = new BlockRecord
            {
                Cidr = AddressPrefix.Parse(root.GetProperty("cidr").GetString()!),
                Pool = AddressPrefix.Parse(root.GetProperty("pool").GetString()!),
                Node = root.GetProperty("node").GetString()!,
                Next = root.TryGetProperty("next", out var n) ? n.GetUInt64() : 0,
                EmptySince = root.TryGetProperty("emptySince", out var e) ? e.GetInt64() : 0,
            };
            if (root.TryGetProperty("allocations", out var a))
                foreach (var p in a.EnumerateObject())
                    block.Allocations[ulong.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture)] = p.Value.GetString()!;
            return block;
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or OverflowException)
        {
            throw new IpamException($"cluster-ipam: a block record in the store is unreadable: {e.Message}", e);
        }
    }

    public IPAddress AddressAt(ulong offset) => IPAddressMath.FromNumber(Cidr.First + offset, Cidr.IsV6);
    public ulong OffsetOf(IPAddress a) => (ulong)(IPAddressMath.ToNumber(a) - Cidr.First);
}

/// <summary>The addresses of one attachment, one per pool (address with the pool's prefix length, and the block it is in).</summary>
public sealed record AttachmentRecord(string ContainerId, string IfName, IReadOnlyList<(AddressPrefix Address, AddressPrefix Block)> Addresses)
{
    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Cni.Spec.AsciiJsonEncoder.Instance }))
        {
            w.WriteStartObject();
            w.WriteString("containerID", ContainerId);
            w.WriteString("ifname", IfName);
            w.WriteStartArray("ips");
            foreach (var (address, block) in Addresses)
            {
                w.WriteStartObject();
                w.WriteString("address", address.ToString());
                w.WriteString("block", block.ToString());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static AttachmentRecord Decode(byte[] value)
    {
        try
        {
            using var doc = JsonDocument.Parse(value);
            var root = doc.RootElement;
            var list = new List<(AddressPrefix, AddressPrefix)>();
            foreach (var ip in root.GetProperty("ips").EnumerateArray())
                list.Add((AddressPrefix.Parse(ip.GetProperty("address").GetString()!), AddressPrefix.Parse(ip.GetProperty("block").GetString()!)));
            return new AttachmentRecord(root.GetProperty("containerID").GetString()!, root.GetProperty("ifname").GetString()!, list);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new IpamException($"cluster-ipam: an attachment record in the store is unreadable: {e.Message}", e);
        }
    }
}
