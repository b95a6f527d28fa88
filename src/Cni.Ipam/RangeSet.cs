using System.Net;

namespace Cni.Ipam;

/// <summary>Ranges of one address family from which exactly one address is handed out per attachment.</summary>
public sealed class RangeSet
{
    public IReadOnlyList<AddressRange> Ranges { get; }
    public bool IsV6 => Ranges[0].IsV6;

    public RangeSet(IReadOnlyList<AddressRange> ranges)
    {
        if (ranges.Count == 0) throw new IpamConfigException("empty range set");
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].IsV6 != ranges[0].IsV6) throw new IpamConfigException("mixed address families");
        for (int i = 0; i < ranges.Count; i++)
            for (int j = i + 1; j < ranges.Count; j++)
                if (ranges[i].Overlaps(ranges[j]))
                    throw new IpamConfigException(
                        $"subnets {ranges[i]} and {ranges[j]} overlap: pool overlaps with other one on this address space");
        Ranges = ranges;
    }

    public AddressRange? RangeFor(IPAddress ip)
    {
        foreach (var r in Ranges)
            if (r.Contains(ip)) return r;
        return null;
    }

    public bool Contains(IPAddress ip) => RangeFor(ip) is not null;

    public bool Overlaps(RangeSet other)
    {
        foreach (var a in Ranges)
            foreach (var b in other.Ranges)
                if (a.Overlaps(b)) return true;
        return false;
    }

    public override string ToString() => string.Join(",", Ranges);
}
