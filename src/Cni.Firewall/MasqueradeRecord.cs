using System.Net;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// What one attachment's masquerade consists of: its addresses (with their prefix lengths) and the
/// subnets they reach unmasqueraded. Kept, binary, in the userdata of the attachment's element in the
/// index set next to its comment, so Remove finds what to delete with one lookup (nft ignores element
/// userdata types it does not know and still prints the comment).
/// <para>Encoding: a version byte, then entries of a kind byte, the address and a prefix length:
/// 0x04 (IPv4 address), 0x06 (IPv6 address), 0x14 (IPv4 subnet), 0x16 (IPv6 subnet).</para>
/// </summary>
public sealed record MasqueradeRecord(IReadOnlyList<IPPrefix> Addresses, IReadOnlyList<IPPrefix> Excluded)
{
    /// <summary>The userdata TLV type of the record; nft's own element types are 0 (comment) and 1 (flags).</summary>
    public const byte UserDataType = 0xc5;

    private const byte Version = 2;
    private const byte Address4 = 0x04, Address6 = 0x06, Subnet4 = 0x14, Subnet6 = 0x16;

    /// <summary>
    /// The record for <paramref name="addresses"/> (one per address) and the subnets of
    /// <paramref name="excluded"/> in a family some address has: host bits cleared, duplicates and
    /// subnets inside another one dropped (so no two overlap), sorted.
    /// </summary>
    public static MasqueradeRecord Create(IEnumerable<IPPrefix> addresses, IEnumerable<IPPrefix> excluded)
    {
        IPPrefix[] own = addresses.DistinctBy(a => a.Address).ToArray();
        return new MasqueradeRecord(own, Outermost(excluded.Where(s => own.Any(a => a.IsV4 == s.IsV4))));
    }

    private static IPPrefix[] Outermost(IEnumerable<IPPrefix> prefixes)
    {
        // Plain loops: chained LINQ operators resolve generic virtual methods at run time in NativeAOT, which
        // measured as a quarter of a millisecond of every bridge ADD with ipMasq.
        var networks = new List<IPPrefix>();
        foreach (var p in prefixes)
        {
            var n = p.Network;
            if (!networks.Contains(n)) networks.Add(n);
        }
        var outermost = new List<IPPrefix>(networks.Count);
        foreach (var s in networks)
        {
            bool nested = false;
            foreach (var o in networks)
                nested |= o.PrefixLength < s.PrefixLength && o.Contains(s.Address);
            if (!nested) outermost.Add(s);
        }
        // IPv4 first, then by address bytes, then by prefix length.
        IPPrefix[] sorted = [.. outermost];
        Array.Sort(sorted, static (a, b) =>
        {
            int c = (a.IsV4 ? 0 : 1) - (b.IsV4 ? 0 : 1);
            if (c == 0) c = a.Address.GetAddressBytes().AsSpan().SequenceCompareTo(b.Address.GetAddressBytes());
            return c != 0 ? c : a.PrefixLength.CompareTo(b.PrefixLength);
        });
        return sorted;
    }

    /// <summary>The excluded subnets of one family.</summary>
    public IEnumerable<IPPrefix> SubnetsOf(bool v4) => Excluded.Where(s => s.IsV4 == v4);

    /// <summary>The container networks (address/prefix, host bits cleared, nested ones dropped) of one family.</summary>
    public IEnumerable<IPPrefix> NetworksOf(bool v4) => Outermost(Addresses.Where(a => a.IsV4 == v4));

    /// <summary>
    /// Every (container network, excluded subnet) pair of the same family: one exemption element each,
    /// shared by every container of the network.
    /// </summary>
    public IEnumerable<(IPPrefix Source, IPPrefix Destination)> Exemptions =>
        from v4 in new[] { true, false }
        from source in NetworksOf(v4)
        from destination in SubnetsOf(v4)
        select (source, destination);

    /// <summary>The same record without <paramref name="address"/> (and without subnets no address needs any more).</summary>
    public MasqueradeRecord Without(IPAddress address) => Create(Addresses.Where(a => !a.Address.Equals(address)), Excluded);

    public byte[] Encode()
    {
        var bytes = new List<byte> { Version };
        foreach (IPPrefix address in Addresses)
        {
            bytes.Add(address.IsV4 ? Address4 : Address6);
            bytes.AddRange(address.Address.GetAddressBytes());
            bytes.Add((byte)address.PrefixLength);
        }
        foreach (IPPrefix subnet in Excluded)
        {
            bytes.Add(subnet.IsV4 ? Subnet4 : Subnet6);
            bytes.AddRange(subnet.Address.GetAddressBytes());
            bytes.Add((byte)subnet.PrefixLength);
        }
        return bytes.ToArray();
    }

    public static bool TryDecode(ReadOnlySpan<byte> data, out MasqueradeRecord record)
    {
        record = new MasqueradeRecord([], []);
        if (data.Length == 0 || data[0] != Version)
        {
            return false;
        }
        var addresses = new List<IPPrefix>();
        var subnets = new List<IPPrefix>();
        data = data[1..];
        while (data.Length > 0)
        {
            byte kind = data[0];
            int size = kind is Address4 or Subnet4 ? 4 : kind is Address6 or Subnet6 ? 16 : -1;
            if (size < 0 || data.Length < 2 + size || data[1 + size] > size * 8)
            {
                return false;
            }
            var prefix = new IPPrefix(new IPAddress(data.Slice(1, size)), data[1 + size]);
            (kind is Subnet4 or Subnet6 ? subnets : addresses).Add(prefix);
            data = data[(2 + size)..];
        }
        record = new MasqueradeRecord(addresses, subnets);
        return true;
    }

    public bool Equals(MasqueradeRecord? other) =>
        other is not null && Addresses.SequenceEqual(other.Addresses) && Excluded.SequenceEqual(other.Excluded);

    public override int GetHashCode() => Addresses.Count ^ (Excluded.Count << 8);
}
