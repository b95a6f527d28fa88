using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// The firewall plugin's <c>ingressPolicy</c> <c>same-bridge</c> and <c>isolated</c>: with the reference's meaning
/// (its CNI-ISOLATION-STAGE-1/2 chains), traffic forwarded from one such bridge to another such bridge is dropped, and
/// for <c>isolated</c> also traffic routed from a bridge back onto itself. Drops work from any table (every base chain
/// on the hook must accept), so these live in our own table.
/// <code>
/// chain ingress-policy { type filter hook forward priority filter; policy accept;
///     iifname . oifname @ingress-isolated drop          "br0" . "br0"   per isolated bridge
///     iifname . oifname @ingress-same-bridge accept     "br0" . "br0"   per bridge (ends this chain only)
///     iifname @ingress-bridges oifname @ingress-bridges drop }
/// set ingress-bridges { type ifname }                   "br0" comment "NETWORK same-bridge|isolated"
/// </code>
/// As the reference, a bridge stays registered after its containers are gone: DEL cannot know whether other
/// containers still use it (its elements are per bridge, a constant number for any number of containers).
/// </summary>
public sealed class IngressPolicyRules
{
    public const string BaseChain = "ingress-policy";
    public const string BridgesSet = "ingress-bridges";
    public const string SameBridgeSet = "ingress-same-bridge";
    public const string IsolatedSet = "ingress-isolated";
    private const string RuleComment = "sharpcni firewall ingressPolicy";

    private readonly NftConnection _nft;

    public IngressPolicyRules(NftConnection nft) => _nft = nft;

    public static NftTransaction Skeleton(NftTransaction tx)
    {
        SharpCniTable.AddTable(tx);
        var pair = NftDataType.Concat(NftDataType.InterfaceName, NftDataType.InterfaceName);
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, NftDataType.InterfaceName) { Comment = "firewall ingressPolicy: bridges" });
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, SameBridgeSet, pair));
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, IsolatedSet, pair));
        var chain = new NftChain(SharpCniTable.Family, SharpCniTable.Name, BaseChain) { Base = NftBaseChain.Filter(NftHook.Forward) };
        return SharpCniTable.ReplaceChain(tx, chain,
        [
            PairRule(IsolatedSet).Drop().Build(SharpCniTable.Name, BaseChain, RuleComment),
            PairRule(SameBridgeSet).Accept().Build(SharpCniTable.Name, BaseChain, RuleComment),
            new NftRuleBuilder().InterfaceInSet(input: true, BridgesSet).InterfaceInSet(input: false, BridgesSet).Drop()
                .Build(SharpCniTable.Name, BaseChain, RuleComment),
        ]);
    }

    private static NftRuleBuilder PairRule(string set) => new NftRuleBuilder()
        .Add(new NftMeta(NftMetaKey.InputInterfaceName, NftRegisters.NFT_REG_1))
        .Add(new NftMeta(NftMetaKey.OutputInterfaceName, NftRegisters.Reg32At(NftData.IFNAMSIZ)))
        .Add(new NftLookup(set));

    /// <summary>Registers <paramref name="bridge"/> with the policy (idempotent).</summary>
    public static NftTransaction PlanEnsure(string bridge, bool isolated, string network)
    {
        byte[] name = NftData.InterfaceName(bridge);
        byte[] pair = NftData.Concat(name, name);
        string comment = network + (isolated ? " isolated" : " same-bridge");
        var tx = Skeleton(new NftTransaction())
            .AddElements(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, [new NftSetElement(name) { Comment = comment }])
            .AddElements(SharpCniTable.Family, SharpCniTable.Name, SameBridgeSet, [new NftSetElement(pair) { Comment = comment }]);
        if (isolated)
            tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, IsolatedSet, [new NftSetElement(pair) { Comment = comment }]);
        return tx;
    }

    public void Ensure(string bridge, bool isolated, string network)
    {
        Names.ValidateInterfaceName(bridge);
        _nft.Commit(PlanEnsure(bridge, isolated, network));
    }

    /// <summary>True when the bridge is registered (and, for <paramref name="isolated"/>, isolated).</summary>
    public bool IsRegistered(string bridge, bool isolated)
    {
        try
        {
            byte[] name = NftData.InterfaceName(bridge);
            bool registered = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, name) is not null;
            return registered && (!isolated || _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, IsolatedSet, NftData.Concat(name, name)) is not null);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return false;
        }
    }
}
