using Cni.Linux.Tc;

namespace Cni.Plugins.Bandwidth;

/// <summary>
/// The reference plugin's TBF computations (plugins/meta/bandwidth): rate and burst in bytes (bits / 8), a bucket
/// ("buffer") of burst/rate seconds expressed in the packet scheduler's ticks, and a queue limit of 25 ms at the
/// rate plus the burst. Pure; the tick length comes from <c>/proc/net/psched</c> as the reference reads it.
/// </summary>
public static class TokenBucket
{
    public const double LatencyMilliseconds = 25;
    private const double TimeUnitsPerSecond = 1_000_000;

    /// <summary>Scheduler ticks per microsecond from the four hex words of /proc/net/psched (t2us, us2t, clock resolution, hz).</summary>
    public static double TicksPerMicrosecond(string psched)
    {
        string[] parts = psched.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3) throw new FormatException($"unexpected /proc/net/psched: '{psched.Trim()}'");
        double t2us = Convert.ToUInt32(parts[0], 16), us2t = Convert.ToUInt32(parts[1], 16), resolution = Convert.ToUInt32(parts[2], 16);
        if (resolution == 1_000_000_000) t2us = us2t; // the kernel's compatibility case, as iproute2 and the reference read it
        return t2us / us2t * (resolution / TimeUnitsPerSecond);
    }

    /// <summary>The ticks per microsecond of this kernel (15.625 on every kernel since 2.6.3x: 1 tick = 64 ns).</summary>
    public static double TicksPerMicrosecondHere()
    {
        try
        {
            return TicksPerMicrosecond(File.ReadAllText("/proc/net/psched"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return 15.625;
        }
    }

    /// <summary>TBF parameters for a rate in bits per second and a burst in bits.</summary>
    public static TbfParameters For(ulong rateBits, ulong burstBits, double ticksPerMicrosecond)
    {
        if (rateBits == 0) throw new ArgumentOutOfRangeException(nameof(rateBits), "invalid rate: 0");
        if (burstBits == 0) throw new ArgumentOutOfRangeException(nameof(burstBits), "invalid burst: 0");
        ulong rate = rateBits / 8;
        if (rate == 0) throw new ArgumentOutOfRangeException(nameof(rateBits), $"invalid rate: {rateBits} bits per second is less than a byte");
        uint burst = (uint)(burstBits / 8);
        uint buffer = (uint)((uint)(burst * TimeUnitsPerSecond / rate) * ticksPerMicrosecond);
        double latency = TimeUnitsPerSecond * (LatencyMilliseconds / 1000.0);
        uint limit = (uint)(rate * latency / TimeUnitsPerSecond) + burst;
        return new TbfParameters(rate, limit, buffer);
    }
}
