using Cni.Firewall;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// The firewall the plugins use: nftables over netlink in the project's own table (see
/// <see cref="SharpCniTable"/>). A netlink socket is opened only when a rule is needed.
/// </summary>
public static class Firewall
{
    public static IMasquerade Masquerade() => new NftMasquerade();
    public static IInternalNetwork InternalNetwork() => new NftInternalNetwork();
    public static IMacSpoofCheck MacSpoofCheck() => new NftMacSpoofCheck();

    internal static CniException Failed(string what, Exception e) =>
        new(ErrorCode.Internal, $"{what}: {e.Message}", e is LinuxException le ? le.ErrnoName : null);

    private sealed class NftMasquerade : IMasquerade
    {
        public void Add(Attachment tag, string network, IReadOnlyList<IPPrefix> addresses)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MasqueradeRules(nft).Add(network, tag.ContainerId, tag.IfName, addresses);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to add masquerade rules", e);
            }
        }

        public void Remove(Attachment tag)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MasqueradeRules(nft).Remove(tag.ContainerId, tag.IfName);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to remove masquerade rules", e);
            }
        }

        public void Check(Attachment tag, IReadOnlyList<IPPrefix> addresses)
        {
            IReadOnlyList<string> problems;
            try
            {
                var nft = NftConnection.ForCall();
                problems = new MasqueradeRules(nft).Check(tag.ContainerId, tag.IfName, addresses);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to read masquerade rules", e);
            }
            if (problems.Count > 0)
                throw new CniException(ErrorCode.Internal, "masquerade rules are missing or changed", string.Join("; ", problems));
        }

        public void Gc(string network, IReadOnlyCollection<Attachment> valid)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MasqueradeRules(nft).Gc(network, valid);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to collect masquerade rules", e);
            }
        }
    }

    private sealed class NftInternalNetwork : IInternalNetwork
    {
        public void Ensure(string bridge)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new InternalNetworkRules(nft).Ensure(bridge);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to add internal-network rules", e);
            }
        }

        public void Check(string bridge)
        {
            IReadOnlyList<string> problems;
            try
            {
                var nft = NftConnection.ForCall();
                problems = new InternalNetworkRules(nft).Check(bridge);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to read internal-network rules", e);
            }
            if (problems.Count > 0)
                throw new CniException(ErrorCode.Internal, $"internal-network rules for bridge {bridge} are missing or changed", string.Join("; ", problems));
        }
    }

    private sealed class NftMacSpoofCheck : IMacSpoofCheck
    {
        public void Add(Attachment tag, string network, string hostInterface, HardwareAddress mac)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MacSpoofRules(nft).Add(network, tag, hostInterface, mac.ToBytes());
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to add macspoofchk rules", e);
            }
        }

        public void Remove(Attachment tag)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MacSpoofRules(nft).Remove(tag);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to remove macspoofchk rules", e);
            }
        }

        public void Check(Attachment tag, string hostInterface, HardwareAddress mac)
        {
            IReadOnlyList<string> problems;
            try
            {
                var nft = NftConnection.ForCall();
                problems = new MacSpoofRules(nft).Check(tag, hostInterface, mac.ToBytes());
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to read macspoofchk rules", e);
            }
            if (problems.Count > 0)
                throw new CniException(ErrorCode.Internal, "macspoofchk rules are missing or changed", string.Join("; ", problems));
        }

        public void Gc(string network, IReadOnlyCollection<Attachment> valid)
        {
            try
            {
                var nft = NftConnection.ForCall();
                new MacSpoofRules(nft).Gc(network, valid);
            }
            catch (Exception e) when (e is LinuxException)
            {
                throw Failed("failed to collect macspoofchk rules", e);
            }
        }
    }
}
