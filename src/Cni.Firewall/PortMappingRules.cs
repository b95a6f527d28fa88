using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Cni.Linux.Interop;
using Cni.Linux.Netfilter;
using Cni.Spec;

namespace Cni.Firewall;

/// <summary>The sets and maps of the port-mapping ruleset (the number is the set's id in a <see cref="PortMappingRules.RecordsMap"/> record).</summary>
public enum PortMappingSet : uint
{
    /// <summary><c>pm-addr4</c>: host address . protocol . port → container address . port.</summary>
    Addr4 = 1,
    /// <summary><c>pm-any4</c>: protocol . port → container address . port (every local IPv4 address but 127/8).</summary>
    Any4 = 2,
    Addr6 = 3,
    Any6 = 4,
    /// <summary><c>pm-dest4</c>: container addresses whose hairpin and localhost connections are masqueraded.</summary>
    Dest4 = 5,
    Dest6 = 6,
    /// <summary><c>pm-masqall4</c>: container addresses every DNATed connection to which is masqueraded (<c>masqAll</c>).</summary>
    MasqAll4 = 7,
    MasqAll6 = 8,
}

/// <summary>
/// One element the port-mapping ruleset holds for an attachment. For the DNAT maps <see cref="Address"/>
/// is the host address (null for every local address), <see cref="Port"/> the host port and
/// <see cref="Data"/> the container address . port; for the masquerade sets <see cref="Address"/> is
/// the container address.
/// </summary>
public sealed record PortMappingElement(PortMappingSet Set, IPAddress? Address, PortProtocol Protocol, ushort Port, byte[]? Data)
{
    public bool IsDnat => Set is PortMappingSet.Addr4 or PortMappingSet.Any4 or PortMappingSet.Addr6 or PortMappingSet.Any6;

    public AddressFamily Family => Set is PortMappingSet.Addr4 or PortMappingSet.Any4 or PortMappingSet.Dest4 or PortMappingSet.MasqAll4
        ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;

    public string SetName => PortMappingRules.NameOf(Set);

    /// <summary>The element's key bytes, laid out as the set's (concatenated) key type.</summary>
    public byte[] Key => Set switch
    {
        PortMappingSet.Addr4 or PortMappingSet.Addr6 => NftData.Concat(NftData.Address(Address!), NftData.Protocol((byte)Protocol), NftData.Port(Port)),
        PortMappingSet.Any4 or PortMappingSet.Any6 => NftData.Concat(NftData.Protocol((byte)Protocol), NftData.Port(Port)),
        _ => NftData.Address(Address!),
    };

    public PublishedPort Published => new(Protocol, Family, Address, Port);

    public bool SameData(NftSetElement existing) => (Data ?? []).AsSpan().SequenceEqual(existing.Data ?? []);

    public override string ToString() => IsDnat
        ? $"{SetName} {(Address is null ? "*" : Address.ToString())} {Protocol.ToString().ToLowerInvariant()} {Port} -> {DataText()}"
        : $"{SetName} {Address}";

    private string DataText()
    {
        if (Data is null) return "?";
        int length = Family == AddressFamily.InterNetwork ? 4 : 16;
        return $"{new IPAddress(Data.AsSpan(0, length))} . {BinaryPrimitives.ReadUInt16BigEndian(Data.AsSpan(length))}";
    }
}

/// <summary>
/// Published ports (the portmap plugin) as data in <c>inet sharpcni</c>: constant rules that look
/// destinations up in maps, and one map element per mapping. No per-container chains and no verdict
/// elements, so adding or removing a container's mappings costs the same however many exist.
/// <code>
/// map pm-addr4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; timeout 36525d }   hostIP-bound and 127.0.0.1 mappings
/// map pm-any4  { type inet_proto . inet_service : ipv4_addr . inet_service; timeout 36525d }               mappings for every local address
/// map pm-addr6, pm-any6                                                                    the same for IPv6
/// set pm-dest4, pm-dest6 { container addresses; timeout 36525d }  hairpin/localhost connections to them are masqueraded (snat)
/// set pm-masqall4, pm-masqall6 { timeout 36525d }     every DNATed connection to them is masqueraded (masqAll)
/// set pm-src4, pm-src6 { flags interval }             container subnets: sources of hairpin connections (per network, kept)
/// map pm-records { type mark . mark . mark : mark . ipv6_addr . inet_proto . inet_service; timeout 36525d }
///     per attachment: FNV-1a(tag) . index → which element it owns; DEL and GC need nothing else.
/// chain pm-prerouting { type nat hook prerouting priority dstnat
///     fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pm-addr4
///     ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to meta l4proto . th dport map @pm-any4
///     (the same for ip6 with ::1) }
/// chain pm-output      { type nat hook output priority dstnat; the same four rules }
/// chain pm-postrouting { type nat hook postrouting priority srcnat
///     ct status dnat ip daddr @pm-dest4 ip saddr @pm-src4 masquerade          hairpin
///     ct status dnat ip daddr @pm-dest4 ip saddr 127.0.0.0/8 masquerade       localhost
///     ct status dnat ip daddr @pm-masqall4 masquerade                         masqAll
///     (ip6: hairpin and masqAll)
///     meta mark &amp; 0x2000 == 0x2000 masquerade                                 one per markMasqBit in use }
/// </code>
/// Elements carry the attachment's tag ("containerID ifname") as comment; an element whose key another
/// attachment holds is taken over (last ADD wins, as in the reference).
/// <para>Every set and map with per-attachment elements has timeouts, with a century as default
/// (<see cref="SharpCniTable.ElementLifetime"/>; <c>nft list</c> shows "expires …" on each element): DEL makes
/// the attachment's elements expire instead of deleting them, which spares the process the kernel's ~10 ms
/// release of deleted elements at exit (<see cref="ElementRemoval"/>). A table made before (sets without
/// timeouts) is kept as it is: ADD adds over its sets (<see cref="SharpCniTable.AsFound"/>), DEL deletes.
/// ADD's own replacements and take-overs delete.</para>
/// </summary>
public sealed class PortMappingRules
{
    public const string PreroutingChain = "pm-prerouting";
    public const string OutputChain = "pm-output";
    public const string PostroutingChain = "pm-postrouting";
    public const string SourcesV4 = "pm-src4";
    public const string SourcesV6 = "pm-src6";
    public const string RecordsMap = "pm-records";

    /// <summary>Comment of every constant rule; a change of layout changes it, so old layouts are rebuilt.</summary>
    public const string RuleComment = "sharpcni portmap v1";
    private const string MarkComment = RuleComment + " markMasqBit ";

    /// <summary>Upper bound of records read for one attachment (bounded loop).</summary>
    public const int MaxRecords = 4096;

    private static readonly IPAddress Localhost4 = IPAddress.Loopback;
    private static readonly IPPrefix Loopback4 = IPPrefix.Parse("127.0.0.0/8");

    private readonly NftConnection _nft;

    public PortMappingRules(NftConnection nft) => _nft = nft;

    public static string NameOf(PortMappingSet set) => set switch
    {
        PortMappingSet.Addr4 => "pm-addr4",
        PortMappingSet.Any4 => "pm-any4",
        PortMappingSet.Addr6 => "pm-addr6",
        PortMappingSet.Any6 => "pm-any6",
        PortMappingSet.Dest4 => "pm-dest4",
        PortMappingSet.Dest6 => "pm-dest6",
        PortMappingSet.MasqAll4 => "pm-masqall4",
        PortMappingSet.MasqAll6 => "pm-masqall6",
        _ => throw new ArgumentOutOfRangeException(nameof(set)),
    };

    // ---- data: pure functions, tested without root -------------------------------------------

    /// <summary>
    /// The elements one attachment needs: per container address, a DNAT element for each mapping of
    /// its family (plus 127.0.0.1 for wildcard IPv4 mappings with localhost on), and the address in
    /// the masquerade set when snat is on. Later duplicates of a key are dropped.
    /// </summary>
    public static IReadOnlyList<PortMappingElement> PlanElements(IReadOnlyList<PortMapping> mappings, IPAddress? containerV4, IPAddress? containerV6, PortMappingOptions options)
    {
        var elements = new List<PortMappingElement>();
        foreach (IPAddress? container in new[] { containerV4, containerV6 })
        {
            if (container is null)
            {
                continue;
            }
            bool v4 = container.AddressFamily == AddressFamily.InterNetwork;
            bool any = false;
            foreach (PortMapping m in mappings)
            {
                if (!m.AppliesTo(container.AddressFamily))
                {
                    continue;
                }
                any = true;
                byte[] data = NftData.Concat(NftData.Address(container), NftData.Port(m.ContainerPort));
                if (m.IsWildcard)
                {
                    elements.Add(new PortMappingElement(v4 ? PortMappingSet.Any4 : PortMappingSet.Any6, null, m.Protocol, m.HostPort, data));
                    if (v4 && options.Snat && options.Localhost)
                    {
                        elements.Add(new PortMappingElement(PortMappingSet.Addr4, Localhost4, m.Protocol, m.HostPort, data));
                    }
                }
                else
                {
                    elements.Add(new PortMappingElement(v4 ? PortMappingSet.Addr4 : PortMappingSet.Addr6, m.HostIP, m.Protocol, m.HostPort, data));
                }
            }
            if (any && options.Snat)
            {
                PortMappingSet set = options.MasqueradeAll
                    ? (v4 ? PortMappingSet.MasqAll4 : PortMappingSet.MasqAll6)
                    : (v4 ? PortMappingSet.Dest4 : PortMappingSet.Dest6);
                elements.Add(new PortMappingElement(set, container, 0, 0, null));
            }
        }
        return elements.DistinctBy(e => (e.Set, Convert.ToHexString(e.Key))).ToArray();
    }

    /// <summary>
    /// The tables, sets, maps and the three base chains with their constant rules (flush + add: idempotent).
    /// <paramref name="existingSets"/>, the table's sets as read back, keeps sets of an older layout as they are.
    /// </summary>
    public static NftTransaction Skeleton(NftTransaction tx, IEnumerable<int> markBits, IReadOnlyCollection<NftSet>? existingSets = null)
    {
        SharpCniTable.AddTable(tx);
        var service = NftDataType.InetService;
        var proto = NftDataType.InetProtocol;
        var v4 = NftDataType.Ipv4Address;
        var v6 = NftDataType.Ipv6Address;
        AddSet(tx, existingSets, PortMappingSet.Addr4, NftDataType.Concat(v4, proto, service), NftDataType.Concat(v4, service), "port mappings bound to an IPv4 address");
        AddSet(tx, existingSets, PortMappingSet.Any4, NftDataType.Concat(proto, service), NftDataType.Concat(v4, service), "port mappings on every local IPv4 address");
        AddSet(tx, existingSets, PortMappingSet.Addr6, NftDataType.Concat(v6, proto, service), NftDataType.Concat(v6, service), "port mappings bound to an IPv6 address");
        AddSet(tx, existingSets, PortMappingSet.Any6, NftDataType.Concat(proto, service), NftDataType.Concat(v6, service), "port mappings on every local IPv6 address");
        AddSet(tx, existingSets, PortMappingSet.Dest4, v4, null, "published containers: masquerade hairpin and localhost");
        AddSet(tx, existingSets, PortMappingSet.Dest6, v6, null, "published containers: masquerade hairpin");
        AddSet(tx, existingSets, PortMappingSet.MasqAll4, v4, null, "published containers: masquerade every DNATed connection");
        AddSet(tx, existingSets, PortMappingSet.MasqAll6, v6, null, "published containers: masquerade every DNATed connection");
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, SourcesV4, v4) { Flags = NftSetFlags.Interval, Comment = "container subnets: hairpin sources" });
        tx.AddSet(new NftSet(SharpCniTable.Family, SharpCniTable.Name, SourcesV6, v6) { Flags = NftSetFlags.Interval, Comment = "container subnets: hairpin sources" });
        tx.AddSet(SharpCniTable.AsFound(SharpCniTable.Expiring(new NftSet(SharpCniTable.Family, SharpCniTable.Name, RecordsMap, NftDataType.Concat(NftDataType.Mark, NftDataType.Mark, NftDataType.Mark))
        {
            DataType = NftDataType.Concat(NftDataType.Mark, v6, proto, service),
            Comment = "port mappings: what each attachment owns",
        }), existingSets));
        SharpCniTable.ReplaceChain(tx, new NftChain(SharpCniTable.Family, SharpCniTable.Name, PreroutingChain) { Base = NftBaseChain.DestinationNat(NftHook.Prerouting) }, DnatRules(PreroutingChain));
        SharpCniTable.ReplaceChain(tx, new NftChain(SharpCniTable.Family, SharpCniTable.Name, OutputChain) { Base = NftBaseChain.DestinationNat(NftHook.Output) }, DnatRules(OutputChain));
        SharpCniTable.ReplaceChain(tx, new NftChain(SharpCniTable.Family, SharpCniTable.Name, PostroutingChain) { Base = NftBaseChain.SourceNat(NftHook.Postrouting) },
            MasqueradeRules().Concat(markBits.Distinct().Order().Select(MarkRule)));
        return tx;
    }

    private static void AddSet(NftTransaction tx, IReadOnlyCollection<NftSet>? existing, PortMappingSet set, NftDataType key, NftDataType? data, string comment) =>
        tx.AddSet(SharpCniTable.AsFound(SharpCniTable.Expiring(new NftSet(SharpCniTable.Family, SharpCniTable.Name, NameOf(set), key) { DataType = data, Comment = comment }), existing));

    /// <summary>The four DNAT rules of pm-prerouting and pm-output.</summary>
    public static IReadOnlyList<NftRule> DnatRules(string chain) =>
    [
        DnatByAddress(chain, ipv6: false),
        DnatAnyAddress(chain, ipv6: false),
        DnatByAddress(chain, ipv6: true),
        DnatAnyAddress(chain, ipv6: true),
    ];

    /// <summary>fib daddr type local dnat ip[6] to ip[6] daddr . meta l4proto . th dport map @pm-addr[46].</summary>
    private static NftRule DnatByAddress(string chain, bool ipv6)
    {
        int addressLength = ipv6 ? 16 : 4;
        return new NftRuleBuilder()
            .MatchDestinationLocal()
            .MatchNfProto(ipv6)
            .Add(NftPayload.Destination(ipv6, NftRegisters.NFT_REG_1))
            .Add(new NftMeta(NftMetaKey.L4Proto, NftRegisters.Reg32At(addressLength)))
            .Add(NftPayload.TransportDestinationPort(NftRegisters.Reg32At(addressLength + NftData.NFT_REG32_SIZE)))
            .Add(new NftLookup(NameOf(ipv6 ? PortMappingSet.Addr6 : PortMappingSet.Addr4), NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1))
            .Add(DnatToRegisters(ipv6))
            .Build(SharpCniTable.Name, chain, RuleComment);
    }

    /// <summary>ip daddr != 127.0.0.0/8 (ip6 daddr != ::1) fib daddr type local dnat to meta l4proto . th dport map @pm-any[46].</summary>
    private static NftRule DnatAnyAddress(string chain, bool ipv6)
    {
        var builder = new NftRuleBuilder();
        if (ipv6)
        {
            builder.MatchDestination(IPAddress.IPv6Loopback, 128, negate: true);
        }
        else
        {
            builder.MatchDestination(Loopback4.Address, Loopback4.PrefixLength, negate: true);
        }
        return builder
            .MatchDestinationLocal()
            .Add(new NftMeta(NftMetaKey.L4Proto, NftRegisters.NFT_REG_1))
            .Add(NftPayload.TransportDestinationPort(NftRegisters.Reg32At(NftData.NFT_REG32_SIZE)))
            .Add(new NftLookup(NameOf(ipv6 ? PortMappingSet.Any6 : PortMappingSet.Any4), NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1))
            .Add(DnatToRegisters(ipv6))
            .Build(SharpCniTable.Name, chain, RuleComment);
    }

    /// <summary>dnat to the address in reg 1 and the port right after it (as nft compiles "dnat ip to … map").</summary>
    private static NftNat DnatToRegisters(bool ipv6)
    {
        uint port = ipv6 ? NftRegisters.NFT_REG_2 : NftRegisters.Reg32At(4);
        return new NftNat(NftNatType.Destination, ipv6 ? NftFamily.IPv6 : NftFamily.IPv4,
            NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1, port, port,
            NfNatRange.NF_NAT_RANGE_MAP_IPS | NfNatRange.NF_NAT_RANGE_PROTO_SPECIFIED);
    }

    /// <summary>The constant masquerade rules of pm-postrouting (hairpin, localhost, masqAll).</summary>
    public static IReadOnlyList<NftRule> MasqueradeRules() =>
    [
        new NftRuleBuilder().MatchCtStatusDnat().DestinationInSet(false, NameOf(PortMappingSet.Dest4)).SourceInSet(false, SourcesV4).Masquerade().Build(SharpCniTable.Name, PostroutingChain, RuleComment),
        new NftRuleBuilder().MatchCtStatusDnat().DestinationInSet(false, NameOf(PortMappingSet.Dest4)).MatchSource(Loopback4.Address, Loopback4.PrefixLength).Masquerade().Build(SharpCniTable.Name, PostroutingChain, RuleComment),
        new NftRuleBuilder().MatchCtStatusDnat().DestinationInSet(false, NameOf(PortMappingSet.MasqAll4)).Masquerade().Build(SharpCniTable.Name, PostroutingChain, RuleComment),
        new NftRuleBuilder().MatchCtStatusDnat().DestinationInSet(true, NameOf(PortMappingSet.Dest6)).SourceInSet(true, SourcesV6).Masquerade().Build(SharpCniTable.Name, PostroutingChain, RuleComment),
        new NftRuleBuilder().MatchCtStatusDnat().DestinationInSet(true, NameOf(PortMappingSet.MasqAll6)).Masquerade().Build(SharpCniTable.Name, PostroutingChain, RuleComment),
    ];

    /// <summary>meta mark &amp; BIT == BIT masquerade (the reference's CNI-HOSTPORT-MASQ for <c>markMasqBit</c>).</summary>
    public static NftRule MarkRule(int bit)
    {
        if (bit is < 0 or > 31)
        {
            throw new ArgumentOutOfRangeException(nameof(bit), "markMasqBit must be between 0 and 31");
        }
        byte[] mask = NftData.HostU32(1u << bit);
        return new NftRuleBuilder()
            .Add(new NftMeta(NftMetaKey.Mark))
            .Add(new NftBitwise(NftRegisters.NFT_REG_1, NftRegisters.NFT_REG_1, mask, new byte[4]))
            .Add(NftCmp.Equal(mask))
            .Masquerade()
            .Build(SharpCniTable.Name, PostroutingChain, MarkComment + bit.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Key of an attachment's record number <paramref name="index"/>: FNV-1a 64 of the tag (two marks) . index.</summary>
    public static byte[] RecordKey(Attachment attachment, int index)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(attachment.Tag))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }
        var key = new byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(key, hash);
        BinaryPrimitives.WriteUInt32LittleEndian(key.AsSpan(8), (uint)index);
        return key;
    }

    /// <summary>A record's value: set id . address (IPv4 mapped into IPv6, :: for none) . protocol . port.</summary>
    public static byte[] RecordData(PortMappingElement element)
    {
        IPAddress address = element.Address is null ? IPAddress.IPv6Any
            : element.Address.AddressFamily == AddressFamily.InterNetwork ? element.Address.MapToIPv6() : element.Address;
        return NftData.Concat(NftData.HostU32((uint)element.Set), NftData.Address(address), NftData.Protocol((byte)element.Protocol), NftData.Port(element.Port));
    }

    /// <summary>The element a record names (without its data), or null for a value this layout does not know.</summary>
    public static PortMappingElement? ElementOfRecord(ReadOnlySpan<byte> data)
    {
        if (data.Length < 28)
        {
            return null;
        }
        var set = (PortMappingSet)BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (!Enum.IsDefined(set))
        {
            return null;
        }
        var address = new IPAddress(data.Slice(4, 16));
        var protocol = (PortProtocol)data[20];
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(24));
        var probe = new PortMappingElement(set, null, protocol, port, null);
        IPAddress? typed = set is PortMappingSet.Any4 or PortMappingSet.Any6 ? null
            : probe.Family == AddressFamily.InterNetwork ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : null)
            : address;
        if (typed is null && set is not (PortMappingSet.Any4 or PortMappingSet.Any6))
        {
            return null;
        }
        return probe with { Address = typed };
    }

    // ---- effects ------------------------------------------------------------------------------

    /// <summary>
    /// Publishes the mappings of one attachment in one transaction, replacing what the same attachment
    /// had (ADD again) and taking over keys another attachment held. <paramref name="hairpinSources"/>
    /// (the container subnets) are then added to pm-src4/6 in their own transaction: they are shared
    /// by a network's containers and never removed by DEL (an overlapping subnet already there is kept).
    /// If that second step fails, the caller undoes the first with <see cref="Remove"/>.
    /// </summary>
    public IReadOnlyList<PortMappingElement> Add(Attachment attachment, string network, IReadOnlyList<PortMapping> mappings,
        IPAddress? containerV4, IPAddress? containerV6, IReadOnlyList<IPPrefix> hairpinSources, PortMappingOptions options)
    {
        string recordComment = attachment.Tag + " " + network;
        if (Encoding.UTF8.GetByteCount(recordComment) > SharpCniTable.MaxCommentLength)
        {
            throw CniException.InvalidConfig($"container ID and network name too long for a firewall tag ({recordComment.Length} > {SharpCniTable.MaxCommentLength})");
        }
        IReadOnlyList<PortMappingElement> plan = PlanElements(mappings, containerV4, containerV6, options);

        var skeleton = new NftTransaction();
        EnsureSkeleton(skeleton, options.MarkMasqBit);

        var tx = new NftTransaction();
        var planned = plan.Select(e => (e.Set, Convert.ToHexString(e.Key))).ToHashSet();
        foreach ((NftSetElement record, PortMappingElement owned) in ReadRecords(attachment))
        {
            tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, RecordsMap, [new NftSetElement(record.Key)]);
            if (!planned.Contains((owned.Set, Convert.ToHexString(owned.Key))))
            {
                DeleteIfOwned(tx, attachment, owned);
            }
        }
        for (int i = 0; i < plan.Count; i++)
        {
            PortMappingElement e = plan[i];
            NftSetElement? existing = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, e.SetName, e.Key);
            bool current = existing is not null && IsOwnedBy(existing, attachment) && e.SameData(existing);
            if (!current)
            {
                if (existing is not null)
                {
                    tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, e.SetName, [new NftSetElement(e.Key)]);
                }
                tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, e.SetName, [new NftSetElement(e.Key) { Data = e.Data, Comment = attachment.Tag }]);
            }
            tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, RecordsMap,
                [new NftSetElement(RecordKey(attachment, i)) { Data = RecordData(e), Comment = recordComment }]);
        }
        try
        {
            _nft.Commit(skeleton.Append(tx));
        }
        catch (Exception ex) when (NftConnection.IsNotFound(ex) || ex is LinuxException { Errno: Errno.EEXIST })
        {
            // A set or chain vanished under a present-looking layout, or the skeleton met sets of the layout before
            // timeouts (a set with other flags is EEXIST): rebuild the whole skeleton once, over the sets as they are.
            _nft.Commit(Skeleton(new NftTransaction(), ReadMarkBits().Append(options.MarkMasqBit ?? PortMappingOptions.DefaultMarkMasqBit), SharpCniTable.ListSets(_nft)).Append(tx));
        }
        if (options.Snat && !options.MasqueradeAll)
        {
            EnsureHairpinSources(network, hairpinSources, plan);
        }
        return plan;
    }

    /// <summary>
    /// Removes every element the attachment owns, found through its records (no prevResult, runtime
    /// config or namespace needed): they expire (see <see cref="ElementRemoval"/>), or are deleted where
    /// that does not work. Elements another attachment took over are left alone. Idempotent; once it
    /// returns (on the plugin call's connection, once the call ends: see <see cref="ElementRemoval"/>), GET, dumps
    /// and packets no longer find the elements.
    /// Returns the DNAT entries removed (for conntrack cleanup).
    /// </summary>
    public IReadOnlyList<PortMappingElement> Remove(Attachment attachment) => Remove(attachment, expire: true);

    /// <summary><see cref="Remove(Attachment)"/>, deleting from the start when not <paramref name="expire"/>.</summary>
    private IReadOnlyList<PortMappingElement> Remove(Attachment attachment, bool expire)
    {
        var removed = new List<PortMappingElement>();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (TryRemove(attachment, expire, removed))
                {
                    return removed;
                }
                expire = false; // expired but still there: delete what is left
            }
            catch (Exception e) when (attempt < 2 && (NftConnection.IsNotFound(e) || e is LinuxException { Errno: Errno.EEXIST }))
            {
                // Raced with another ADD/DEL/GC (an element vanished or changed hands): plan again from fresh state.
            }
        }
    }

    /// <summary>One round of <see cref="Remove"/>: false when expired elements stayed (the caller deletes next round).</summary>
    private bool TryRemove(Attachment attachment, bool expire, List<PortMappingElement> removed)
    {
        var removal = new ElementRemoval();
        var found = new List<PortMappingElement>();
        foreach ((NftSetElement record, PortMappingElement owned) in ReadRecords(attachment))
        {
            if (OwnedElement(attachment, owned) is { } existing)
            {
                removal.Add(owned.SetName, existing);
                if (owned.IsDnat)
                {
                    found.Add(owned with { Data = existing.Data });
                }
            }
            removal.Add(RecordsMap, record);
        }
        bool done = removal.Commit(_nft, expire);
        removed.AddRange(found.Where(f => !removed.Any(r => r.Set == f.Set && r.Key.AsSpan().SequenceEqual(f.Key))));
        return done;
    }

    /// <summary>What is missing or different for the attachment (empty when everything is in place).</summary>
    public IReadOnlyList<string> Check(Attachment attachment, IReadOnlyList<PortMapping> mappings, IPAddress? containerV4, IPAddress? containerV6, PortMappingOptions options)
    {
        if (!ReadSkeleton(out _))
        {
            return [$"port-mapping chains of table inet {SharpCniTable.Name} are missing or changed"];
        }
        var problems = new List<string>();
        foreach (PortMappingElement e in PlanElements(mappings, containerV4, containerV6, options))
        {
            NftSetElement? existing = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, e.SetName, e.Key);
            if (existing is null)
            {
                problems.Add($"missing: {e}");
            }
            else if (!IsOwnedBy(existing, attachment))
            {
                problems.Add($"taken by \"{existing.Comment}\": {e}");
            }
            else if (!e.SameData(existing))
            {
                problems.Add($"points elsewhere: {e}");
            }
        }
        return problems;
    }

    /// <summary>
    /// CNI GC: removes the state of every attachment of <paramref name="network"/> not in
    /// <paramref name="valid"/> (records name their network). Returns the attachments removed.
    /// </summary>
    public IReadOnlyList<Attachment> Gc(string network, IEnumerable<Attachment> valid)
    {
        var keep = valid.Select(a => a.Tag).ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<NftSetElement> records;
        try
        {
            records = _nft.ListElements(SharpCniTable.Family, SharpCniTable.Name, RecordsMap);
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return [];
        }
        var stale = new List<Attachment>();
        foreach (NftSetElement record in records)
        {
            string[] words = (record.Comment ?? "").Split(' ');
            if (words.Length >= 3 && words[2] == network && Attachment.TryParseTag(record.Comment, out Attachment a) && !keep.Contains(a.Tag) && !stale.Contains(a))
            {
                stale.Add(a);
            }
        }
        foreach (Attachment a in stale)
        {
            // Deleted, not expired: expiring waits up to a jiffy per attachment, deleting costs one release at exit in all.
            Remove(a, expire: false);
        }
        return stale;
    }

    /// <summary>The records of an attachment (index 0, 1, … until the first missing one), each with the element it names.</summary>
    public IReadOnlyList<(NftSetElement Record, PortMappingElement Element)> ReadRecords(Attachment attachment)
    {
        var result = new List<(NftSetElement, PortMappingElement)>();
        for (int i = 0; i < MaxRecords; i++)
        {
            byte[] key = RecordKey(attachment, i);
            NftSetElement? record = _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, RecordsMap, key);
            if (record is null || !IsOwnedBy(record, attachment) || record.Data is null)
            {
                break;
            }
            if (ElementOfRecord(record.Data) is PortMappingElement element)
            {
                result.Add((record, element));
            }
        }
        return result;
    }

    private static bool IsOwnedBy(NftSetElement element, Attachment attachment) =>
        Attachment.TryParseTag(element.Comment, out Attachment owner) && owner == attachment;

    /// <summary>Plans deleting the element if it is there and tagged for the attachment; returns what was found.</summary>
    /// <summary>The element a record names, as the kernel holds it, when the attachment still owns it (null when gone or taken over).</summary>
    private NftSetElement? OwnedElement(Attachment attachment, PortMappingElement owned) =>
        _nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, owned.SetName, owned.Key) is { } existing && IsOwnedBy(existing, attachment)
            ? existing
            : null;

    private void DeleteIfOwned(NftTransaction tx, Attachment attachment, PortMappingElement owned)
    {
        if (OwnedElement(attachment, owned) is not null)
        {
            tx.DeleteElements(SharpCniTable.Family, SharpCniTable.Name, owned.SetName, [new NftSetElement(owned.Key)]);
        }
    }

    /// <summary>Adds the skeleton to <paramref name="tx"/> unless the chains already hold exactly our constant rules (the usual case: no rule is touched).</summary>
    private void EnsureSkeleton(NftTransaction tx, int? markBit)
    {
        bool complete = ReadSkeleton(out HashSet<int> bits);
        bool newBit = markBit is int b && bits.Add(b);
        if (!complete)
        {
            Skeleton(tx, bits);
        }
        else if (newBit)
        {
            tx.AddRule(MarkRule(markBit!.Value));
        }
    }

    private IEnumerable<int> ReadMarkBits()
    {
        ReadSkeleton(out HashSet<int> bits);
        return bits;
    }

    /// <summary>True when the three chains hold the current constant rules; <paramref name="markBits"/> gets the mark rules found.</summary>
    private bool ReadSkeleton(out HashSet<int> markBits)
    {
        markBits = [];
        try
        {
            bool pre = Comments(PreroutingChain).SequenceEqual(DnatRules(PreroutingChain).Select(r => r.Comment));
            bool output = Comments(OutputChain).SequenceEqual(DnatRules(OutputChain).Select(r => r.Comment));
            IReadOnlyList<string?> post = Comments(PostroutingChain);
            IReadOnlyList<NftRule> constant = MasqueradeRules();
            foreach (string? c in post.Skip(constant.Count))
            {
                if (c is not null && c.StartsWith(MarkComment, StringComparison.Ordinal) && int.TryParse(c.AsSpan(MarkComment.Length), out int bit) && bit is >= 0 and <= 31)
                {
                    markBits.Add(bit);
                }
            }
            return pre && output && post.Take(constant.Count).SequenceEqual(constant.Select(r => r.Comment))
                && post.Skip(constant.Count).All(c => c is not null && c.StartsWith(MarkComment, StringComparison.Ordinal));
        }
        catch (Exception e) when (NftConnection.IsNotFound(e))
        {
            return false;
        }
    }

    private IReadOnlyList<string?> Comments(string chain) =>
        _nft.ListRules(SharpCniTable.Family, SharpCniTable.Name, chain).Select(r => r.Comment).ToArray();

    /// <summary>Adds the container subnets to the hairpin source sets unless already covered (one lookup each).</summary>
    private void EnsureHairpinSources(string network, IReadOnlyList<IPPrefix> sources, IReadOnlyList<PortMappingElement> plan)
    {
        var tx = new NftTransaction();
        foreach (IPPrefix source in sources.Select(s => s.Network).Distinct())
        {
            PortMappingSet dest = source.IsV4 ? PortMappingSet.Dest4 : PortMappingSet.Dest6;
            if (!plan.Any(e => e.Set == dest))
            {
                continue;
            }
            string set = source.IsV4 ? SourcesV4 : SourcesV6;
            if (_nft.GetElement(SharpCniTable.Family, SharpCniTable.Name, set, NftData.Address(source.Address)) is not null)
            {
                continue;
            }
            tx.AddElements(SharpCniTable.Family, SharpCniTable.Name, set, NftSetElement.Prefix(source.Address, source.PrefixLength, network));
        }
        if (tx.IsEmpty)
        {
            return;
        }
        try
        {
            _nft.Commit(tx);
        }
        catch (Cni.Linux.Interop.LinuxException e) when (e.Errno is Cni.Linux.Interop.Errno.EEXIST or Cni.Linux.Interop.Errno.ENOTEMPTY)
        {
            // Overlaps a subnet another network put there: those sources are hairpin sources already.
        }
    }
}
