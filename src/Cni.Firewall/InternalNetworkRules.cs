using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>
/// Docker-style <c>internal</c> networks: forwarding between an internal network's bridge and any
/// other interface is dropped, both ways; traffic routed back onto the same bridge is not.
/// <para>Layout in <c>inet sharpcni</c>:</para>
/// <code>
/// chain forward { type filter hook forward priority filter; policy accept;
///     iifname . oifname @internal-hairpin accept
///     iifname @internal-bridges drop
///     oifname @internal-bridges drop }
/// set internal-bridges { type ifname }            elements: "br0" comment "NETWORK"
/// set internal-hairpin { type ifname . ifname }   elements: "br0" . "br0"
/// </code>
/// One element per set per network: Ensure and Remove cost the same for any number of networks.
/// </summary>
public sealed class InternalNetworkRules
{
    public const string BaseChain = "forward";
    public const string BridgesSet = "internal-bridges";
    public const string HairpinSet = "internal-hairpin";

    private readonly NftConnection _nft;

    public InternalNetworkRules(NftConnection nft) => _nft = nft;

    public static NftTransaction Skeleton(NftTransaction tx)
    {
        SharpCniTable.AddTable(tx);
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, NftDataType.InterfaceName) { Comment = "bridges of internal networks" });
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, HairpinSet, NftDataType.Concat(NftDataType.InterfaceName, NftDataType.InterfaceName)));
        var chain = new NftChain(SharpCniTable.Family, SharpCniTable.Name, BaseChain) { Base = NftBaseChain.Filter(NftHook.Forward) };
        return SharpCniTable.ReplaceChain(tx, chain, BaseRules());
    }

    /// <summary>The three rules of the forward chain: hairpin accept, drop from and drop to an internal bridge.</summary>
    public static IReadOnlyList<NftRule> BaseRules()
    {
        var hairpin = new NftRuleBuilder()
            .Add(new NftMeta(NftMetaKey.InputInterfaceName, NftRegisters.NFT_REG_1))
            .Add(new NftMeta(NftMetaKey.OutputInterfaceName, NftRegisters.Reg32At(NftData.IFNAMSIZ)))
            .Add(new NftLookup(HairpinSet))
            .Accept();
        return
        [
            hairpin.Build(SharpCniTable.Name, BaseChain, "sharpcni internal"),
            new NftRuleBuilder().InterfaceInSet(input: true, BridgesSet).Drop().Build(SharpCniTable.Name, BaseChain, "sharpcni internal"),
            new NftRuleBuilder().InterfaceInSet(input: false, BridgesSet).Drop().Build(SharpCniTable.Name, BaseChain, "sharpcni internal"),
        ];
    }

    public static NftTransaction PlanEnsure(string bridgeName, string? network = null)
    {
        byte[] name = NftData.InterfaceName(bridgeName);
        return Skeleton(new NftTransaction())
            .AddElements(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, [new NftSetElement(name) { Comment = network ?? bridgeName }])
            .AddElements(SharpCniTable.Family, SharpCniTable.Name, HairpinSet, [new NftSetElement(NftData.Concat(name, name)) { Comment = network ?? bridgeName }]);
    }

    /// <summary>Makes <paramref name="bridgeName"/> an internal network's bridge (idempotent).</summary>
    public void Ensure(string bridgeName, string? network = null)
    {
        Names.ValidateInterfaceName(bridgeName);
        _nft.Commit(PlanEnsure(bridgeName, network));
    }

    /// <summary>Stops treating the bridge as internal. Idempotent.</summary>
    public void Remove(string bridgeName)
    {
        Names.ValidateInterfaceName(bridgeName);
        byte[] name = NftData.InterfaceName(bridgeName);
        var tx = new NftTransaction();
        if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, name) is not null)
        {
            tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, [new NftSetElement(name)]);
        }
        byte[] pair = NftData.Concat(name, name);
        if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, HairpinSet, pair) is not null)
        {
            tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, HairpinSet, [new NftSetElement(pair)]);
        }
        _nft.Commit(tx);
    }

    public bool IsInternal(string bridgeName) =>
        _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, NftData.InterfaceName(bridgeName)) is not null;

    /// <summary>
    /// What is missing or changed for <paramref name="bridgeName"/> to be isolated (empty when all is in place):
    /// its elements in both sets and every rule of the forward chain. The elements alone isolate nothing
    /// once the drop rules are deleted.
    /// </summary>
    public IReadOnlyList<string> Check(string bridgeName)
    {
        Names.ValidateInterfaceName(bridgeName);
        if (!_nft.TableExists(SharpCniTable.Family, SharpCniTable.Name))
        {
            return [$"nftables table inet {SharpCniTable.Name} is missing"];
        }
        var problems = new List<string>();
        byte[] name = NftData.InterfaceName(bridgeName);
        try
        {
            if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, BridgesSet, name) is null)
            {
                problems.Add($"{bridgeName} is not in set {BridgesSet}");
            }
            if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, HairpinSet, NftData.Concat(name, name)) is null)
            {
                problems.Add($"{bridgeName} . {bridgeName} is not in set {HairpinSet}");
            }
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            problems.Add($"set {BridgesSet} or {HairpinSet} is missing");
        }
        try
        {
            IReadOnlyList<NftRule> rules = _nft.ListRules(SharpCniTable.Family, SharpCniTable.Name, BaseChain);
            foreach (NftRule expected in BaseRules())
            {
                if (!rules.Any(r => r.Expressions.SequenceEqual(expected.Expressions)))
                {
                    problems.Add($"a rule of chain {BaseChain} is missing or changed");
                }
            }
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            problems.Add($"chain {BaseChain} is missing");
        }
        return problems;
    }
}
