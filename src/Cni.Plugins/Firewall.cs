using Cni.Spec;

namespace Cni.Plugins;

/// <summary>The firewall implementations plugins use by default.</summary>
public static class Firewall
{
    public static IMasquerade Masquerade() => new UnavailableFirewall();
    public static IInternalNetwork InternalNetwork() => new UnavailableFirewall();

    /// <summary>Until the nftables rulesets are wired in: fail clearly instead of ignoring ipMasq/internal.</summary>
    private sealed class UnavailableFirewall : IMasquerade, IInternalNetwork
    {
        private static CniException NotAvailable(string what) =>
            new(ErrorCode.UnsupportedField, $"{what} is not available in this build (no nftables backend)");

        public void Add(AttachmentTag tag, string network, IReadOnlyList<IPPrefix> addresses) => throw NotAvailable("ipMasq");
        public void Remove(AttachmentTag tag) { }
        public void Check(AttachmentTag tag, IReadOnlyList<IPPrefix> addresses) => throw NotAvailable("ipMasq");
        public void Ensure(string bridge) => throw NotAvailable("internal");
        public void Check(string bridge) => throw NotAvailable("internal");
    }
}
