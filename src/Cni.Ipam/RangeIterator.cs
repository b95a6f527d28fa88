using System.Net;

namespace Cni.Ipam;

/// <summary>
/// The reference's round-robin order over a range set: start right after the last reserved address (when it is
/// still inside the set), otherwise at the first range's start; walk every range in order, wrapping around, and
/// stop when back at the start. Network, IPv4 broadcast, gateway and excluded addresses are skipped; excluded
/// CIDRs are jumped over rather than walked.
/// </summary>
public static class RangeIterator
{
    public readonly record struct Candidate(IPAddress Address, AddressRange Range);

    public static IEnumerable<Candidate> Candidates(RangeSet set, IPAddress? lastReserved)
    {
        var ranges = set.Ranges;
        bool v6 = set.IsV6;
        int ri = 0;
        UInt128 cur = ranges[0].StartValue;
        if (lastReserved is not null && IPAddressMath.IsV4(lastReserved) != v6)
        {
            for (int i = 0; i < ranges.Count; i++)
            {
                if (!ranges[i].Contains(lastReserved)) continue;
                ri = i;
                cur = IPAddressMath.ToNumber(lastReserved);
                (ri, cur) = Advance(ranges, ri, cur);
                break;
            }
        }

        int startRi = ri;
        UInt128 startCur = cur;
        while (true)
        {
            var r = ranges[ri];
            if (r.IsUsable(cur))
            {
                yield return new Candidate(IPAddressMath.FromNumber(cur, v6), r);
            }
            else if (r.ExclusionEndCovering(cur) is UInt128 blockEnd)
            {
                UInt128 target = blockEnd < r.EndValue ? blockEnd : r.EndValue;
                // Jumping over the start position means the whole set has been walked.
                if (ri == startRi && cur < startCur && startCur <= target) yield break;
                cur = target;
            }
            (ri, cur) = Advance(ranges, ri, cur);
            if (ri == startRi && cur == startCur) yield break;
        }
    }

    private static (int, UInt128) Advance(IReadOnlyList<AddressRange> ranges, int ri, UInt128 cur)
    {
        if (cur >= ranges[ri].EndValue)
        {
            ri = (ri + 1) % ranges.Count;
            return (ri, ranges[ri].StartValue);
        }
        return (ri, cur + 1);
    }
}
