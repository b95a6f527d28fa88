namespace Cni.Netfilter.Tests;

/// <summary>A fact that needs nftables in a throwaway namespace; skipped, with the reason, when that is missing.</summary>
public sealed class KernelFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Missing = new(ThrowawayNamespace.MissingNftables);

    public KernelFactAttribute()
    {
        if (Missing.Value is string reason)
        {
            Skip = reason;
        }
    }
}
