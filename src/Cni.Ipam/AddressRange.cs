using System.Net;

namespace Cni.Ipam;

/// <summary>
/// One range of a range set, canonicalized: <see cref="Subnet"/> is a network address with its prefix,
/// start, end and gateway are filled in and inside the subnet. Start and end are inclusive.
/// </summary>
public sealed class AddressRange
{
    public AddressPrefix Subnet { get; }
    public IPAddress RangeStart { get; }
    public IPAddress RangeEnd { get; }
    public IPAddress Gateway { get; }
    /// <summary>Addresses and CIDRs (additive option <c>exclude</c>) that are never handed out.</summary>
    public IReadOnlyList<AddressPrefix> Exclusions { get; }

    public bool IsV6 => Subnet.IsV6;
    internal UInt128 StartValue { get; }
    internal UInt128 EndValue { get; }
    internal UInt128 GatewayValue { get; }

    private AddressRange(AddressPrefix subnet, IPAddress start, IPAddress end, IPAddress gateway, IReadOnlyList<AddressPrefix> exclusions)
    {
        Subnet = subnet;
        RangeStart = start;
        RangeEnd = end;
        Gateway = gateway;
        Exclusions = exclusions;
        StartValue = IPAddressMath.ToNumber(start);
        EndValue = IPAddressMath.ToNumber(end);
        GatewayValue = IPAddressMath.ToNumber(gateway);
    }

    /// <summary>
    /// Builds a range the way the reference's Range.Canonicalize does (same defaults, same messages),
    /// plus checks it skips: start after end, gateway outside the subnet, exclusions outside the subnet.
    /// </summary>
    public static AddressRange Create(AddressPrefix subnet, IPAddress? rangeStart = null, IPAddress? rangeEnd = null,
        IPAddress? gateway = null, IReadOnlyList<AddressPrefix>? exclusions = null)
    {
        if (subnet.PrefixLength > subnet.Bits - 2)
            throw new IpamConfigException($"Network {subnet} too small to allocate from");
        if (!subnet.Network.Address.Equals(subnet.Address))
            throw new IpamConfigException(
                $"Network has host bits set. For a subnet mask of length {subnet.PrefixLength} the network address is {IPAddressMath.Format(subnet.Network.Address)}");

        bool v6 = subnet.IsV6;
        UInt128 first = subnet.First, last = subnet.Last;
        gateway ??= IPAddressMath.FromNumber(first + 1, v6);
        if (!subnet.Contains(gateway))
            throw new IpamConfigException($"Gateway {IPAddressMath.Format(gateway)} not in network {subnet}");

        if (rangeStart is null) rangeStart = IPAddressMath.FromNumber(first + 1, v6);
        else if (!subnet.Contains(rangeStart))
            throw new IpamConfigException($"RangeStart {IPAddressMath.Format(rangeStart)} not in network {subnet}");

        // Default end: the last address, less the broadcast address for IPv4.
        if (rangeEnd is null) rangeEnd = IPAddressMath.FromNumber(v6 ? last : last - 1, v6);
        else if (!subnet.Contains(rangeEnd))
            throw new IpamConfigException($"RangeEnd {IPAddressMath.Format(rangeEnd)} not in network {subnet}");

        if (IPAddressMath.Compare(rangeStart, rangeEnd) > 0)
            throw new IpamConfigException(
                $"RangeStart {IPAddressMath.Format(rangeStart)} is after RangeEnd {IPAddressMath.Format(rangeEnd)} in network {subnet}");

        var ex = new List<AddressPrefix>();
        foreach (var e in exclusions ?? [])
        {
            if (e.IsV6 != v6 || e.PrefixLength < subnet.PrefixLength || !subnet.Contains(e.Address))
                throw new IpamConfigException($"Exclude {e} not in network {subnet}");
            ex.Add(e.Network);
        }
        return new AddressRange(subnet, rangeStart, rangeEnd, gateway, ex);
    }

    /// <summary>True when the address is inside the subnet and between start and end (the reference's Contains).</summary>
    public bool Contains(IPAddress ip)
    {
        if (IPAddressMath.IsV4(ip) == IsV6 || !Subnet.Contains(ip)) return false;
        var v = IPAddressMath.ToNumber(ip);
        return v >= StartValue && v <= EndValue;
    }

    /// <summary>Why an address of this range may not be handed out, or null when it may.</summary>
    internal string? WhyUnusable(UInt128 v)
    {
        if (v == Subnet.First) return "is the subnet's network address";
        if (!IsV6 && v == Subnet.Last) return "is the subnet's broadcast address";
        if (v == GatewayValue) return "is subnet's gateway";
        foreach (var e in Exclusions)
            if (v >= e.First && v <= e.Last) return $"is excluded ({e})";
        return null;
    }

    internal bool IsUsable(UInt128 v) => WhyUnusable(v) is null;

    /// <summary>Next excluded-block end at or after <paramref name="v"/> if v is excluded (lets iteration jump over big exclusions).</summary>
    internal UInt128? ExclusionEndCovering(UInt128 v)
    {
        foreach (var e in Exclusions)
            if (v >= e.First && v <= e.Last) return e.Last;
        return null;
    }

    public bool Overlaps(AddressRange other) =>
        IsV6 == other.IsV6 && StartValue <= other.EndValue && other.StartValue <= EndValue;

    public override string ToString() => $"{IPAddressMath.Format(RangeStart)}-{IPAddressMath.Format(RangeEnd)}";
}
