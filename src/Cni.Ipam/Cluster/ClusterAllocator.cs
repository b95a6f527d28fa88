using System.Net;

namespace Cni.Ipam.Cluster;

/// <summary>
/// Cluster-wide address allocation over an <see cref="IClusterStore"/> (Calico's block model): a node claims blocks
/// of a pool with an atomic create and allocates its containers' addresses inside the blocks it holds (strict
/// affinity: never in another node's block). Every change is one conditional commit: the blocks it changes at the
/// revisions it read them at, the attachment record absent (ADD) or unchanged (DEL), a new block's claim absent.
/// A lost race re-reads and tries again. Allocations are recorded under their attachment (container ID + interface),
/// and a block's entry names its attachment, so a DEL frees only what its attachment holds.
/// </summary>
public sealed class ClusterAllocator
{
    /// <summary>At most this many keys per commit (etcd's default --max-txn-ops is 128; a compare counts too).</summary>
    private const int MaxOpsPerCommit = 120;

    private readonly ClusterIpamConfig _config;
    private readonly IClusterStore _store;
    private readonly Func<DateTimeOffset> _clock;
    private readonly int _maxAttempts;
    private readonly KeyLayout _keys;

    private readonly INodeBlockCache? _cache;

    /// <param name="cache">
    /// This node's blocks as last seen (a hint, never trusted): ADD plans on them and goes straight to its commit,
    /// whose expectations catch anything stale; a failed commit answers with the current state in the same round.
    /// </param>
    public ClusterAllocator(ClusterIpamConfig config, IClusterStore store, Func<DateTimeOffset>? clock = null, int maxAttempts = 40,
        INodeBlockCache? cache = null)
    {
        _config = config;
        _store = store;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _maxAttempts = maxAttempts;
        _keys = new KeyLayout(config.Prefix);
        _cache = cache;
    }

    public KeyLayout Keys => _keys;
    public string NodeName => _config.NodeName;
    private string Node => _config.NodeName;

    /// <summary>A read of the node's blocks and one attachment, with what they were read at.</summary>
    private sealed class NodeState
    {
        public StoredValue? Attachment;
        public readonly List<(StoredValue Stored, BlockRecord Block)> Blocks = [];
        public readonly HashSet<int> Changed = [];
        /// <summary>The claim keys read with the node (the blocks of requested addresses), null where absent.</summary>
        public readonly List<StoredValue?> Claims = [];
    }

    /// <summary>Reads the attachment and the node's blocks, and in the same snapshot the claim keys <paramref name="claims"/> (one result each).</summary>
    private NodeState ReadNode(string containerId, string ifName, bool mayBeStale = false, IReadOnlyList<string>? claims = null)
    {
        var state = NodeStateFrom(_store.Read(NodeQueries(containerId, ifName, claims), mayBeStale));
        if (!mayBeStale) SaveCache(state.Blocks.Select(b => b.Stored));
        return state;
    }

    private List<KeyQuery> NodeQueries(string containerId, string ifName, IReadOnlyList<string>? claims)
    {
        var queries = new List<KeyQuery>(2 + (claims?.Count ?? 0))
        {
            new KeyQuery(_keys.Attachment(Node, containerId, ifName)),
            new KeyQuery(_keys.NodeBlocks(Node), Prefix: true),
        };
        foreach (var c in claims ?? []) queries.Add(new KeyQuery(c));
        return queries;
    }

    private static NodeState NodeStateFrom(IReadOnlyList<IReadOnlyList<StoredValue>> results)
    {
        var state = new NodeState { Attachment = results[0].Count > 0 ? results[0][0] : null };
        foreach (var b in results[1]) state.Blocks.Add((b, BlockRecord.Decode(b.Value)));
        for (int i = 2; i < results.Count; i++) state.Claims.Add(results[i].Count > 0 ? results[i][0] : null);
        return state;
    }

    /// <summary>The node's blocks from the cache (the attachment assumed absent), or null.</summary>
    private NodeState? CachedNode()
    {
        if (_cache?.Load() is not { } blocks) return null;
        var state = new NodeState();
        string prefix = _keys.NodeBlocks(Node);
        try
        {
            foreach (var b in blocks)
                if (b.Key.StartsWith(prefix, StringComparison.Ordinal)) state.Blocks.Add((b, BlockRecord.Decode(b.Value)));
        }
        catch (IpamException)
        {
            return null; // an unreadable hint is no hint
        }
        return state;
    }

    private void SaveCache(IEnumerable<StoredValue> blocks) => _cache?.Save(blocks.ToList());

    /// <summary>The node's blocks after a commit at <paramref name="revision"/>: the ones read, with the commit's writes applied.</summary>
    private void SaveCacheAfterCommit(NodeState state, IReadOnlyList<StoreWrite> writes, long revision)
    {
        if (_cache is null) return;
        if (revision <= 0)
        {
            _cache.Save([]); // the new revisions are unknown: an empty hint makes the next call read
            return;
        }
        var blocks = new SortedDictionary<string, StoredValue>(StringComparer.Ordinal);
        foreach (var (stored, _) in state.Blocks) blocks[stored.Key] = stored;
        string prefix = _keys.NodeBlocks(Node);
        foreach (var w in writes)
        {
            if (!w.Key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (w.Value is null) blocks.Remove(w.Key);
            else blocks[w.Key] = new StoredValue(w.Key, w.Value, revision);
        }
        _cache.Save(blocks.Values.ToList());
    }

    // ------------------------------------------------------------------ ADD

    /// <summary>
    /// One address from each pool for the attachment; the same addresses again when it already has them. A pool
    /// with a requested address (<see cref="ClusterIpamConfig.RequestedAddresses"/>) gives that address: from a
    /// block this node holds, or from its block claimed for this node when nobody holds it; never from another
    /// node's block (strict affinity).
    /// </summary>
    public IpamAllocation Add(string containerId, string ifName)
    {
        string handle = BlockRecord.Handle(containerId, ifName);
        string attachmentKey = _keys.Attachment(Node, containerId, ifName);
        var requested = RequestedPerPool();
        var claimKeys = new List<string>();
        var claimIndex = new int[requested.Length];
        for (int p = 0; p < requested.Length; p++)
        {
            claimIndex[p] = -1;
            if (requested[p] is not { } r) continue;
            claimIndex[p] = claimKeys.Count;
            claimKeys.Add(_keys.Claim(_config.Pools[p], BlockOf(_config.Pools[p], r)));
        }
        // The first read may be stale (served by the member without a round through the leader): every block it
        // changes and the attachment's absence are expectations of the commit, so a stale read costs at most a retry,
        // which reads linearizably. An existing record is only believed from a linearizable read (a stale one may
        // show an allocation that a DEL has released since).
        // With a cache (and no static request, whose claim keys must be read), the first plan is made on the cached
        // blocks without any read: the commit's expectations (every changed block at its cached revision, the
        // attachment absent) make a stale hint cost a retry, and the failed commit brings the current state along.
        bool mayBeStale = true;
        NodeState? next = claimKeys.Count == 0 ? CachedNode() : null;
        var queries = NodeQueries(containerId, ifName, claimKeys);
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var state = next ?? ReadNode(containerId, ifName, mayBeStale, claimKeys);
            next = null;
            if (state.Attachment is { } existing)
            {
                if (mayBeStale)
                {
                    mayBeStale = false;
                    continue;
                }
                var recorded = AttachmentRecord.Decode(existing.Value);
                CheckRecordedMatchesRequested(recorded, requested);
                return ToAllocation(recorded);
            }

            var expectations = new List<Expect> { new(attachmentKey, 0) };
            var writes = new List<StoreWrite>();
            var addresses = new List<(AddressPrefix Address, AddressPrefix Block)>();
            var newBlocks = new List<BlockRecord>();
            bool claimsFreeBlock = false;
            string? refusal = null;
            for (int p = 0; p < _config.Pools.Count && refusal is null; p++)
            {
                var pool = _config.Pools[p];
                if (requested[p] is { } wanted)
                {
                    var claim = state.Claims[claimIndex[p]];
                    var taken = TakeRequested(state, pool, wanted, claim, handle, out refusal);
                    if (taken is null) break;
                    if (taken.Value.NewBlock is { } claimed)
                    {
                        newBlocks.Add(claimed);
                        expectations.Add(new Expect(_keys.Claim(pool, claimed.Cidr), 0));
                        expectations.Add(new Expect(_keys.Block(Node, claimed.Cidr.ToString()), 0));
                        writes.Add(new StoreWrite(_keys.Claim(pool, claimed.Cidr), ClaimValue()));
                        writes.Add(new StoreWrite(_keys.Block(Node, claimed.Cidr.ToString()), claimed.Encode()));
                    }
                    addresses.Add(taken.Value.Picked);
                    continue;
                }
                var picked = AllocateInHeldBlocks(state, pool, handle);
                if (picked is null)
                {
                    // Every held block of this pool is full: claim the lowest free block of the pool (only on a
                    // current view: a stale one may show full a block that has room again).
                    claimsFreeBlock = true;
                    if (mayBeStale) break;
                    var block = ClaimCandidate(pool, newBlocks);
                    var record = new BlockRecord { Cidr = block, Pool = pool.Subnet, Node = Node };
                    picked = Allocate(pool, record, handle) ?? throw new PoolExhaustedException(
                        $"cluster-ipam: pool {pool.Subnet}: the free block {block} has no usable address");
                    newBlocks.Add(record);
                    expectations.Add(new Expect(_keys.Claim(pool, block), 0));
                    expectations.Add(new Expect(_keys.Block(Node, block.ToString()), 0));
                    writes.Add(new StoreWrite(_keys.Claim(pool, block), ClaimValue()));
                    writes.Add(new StoreWrite(_keys.Block(Node, block.ToString()), record.Encode()));
                }
                addresses.Add(picked.Value);
            }
            if (refusal is not null)
            {
                // A stale read may show an address or a block that has been released since: only a linearizable
                // read's answer is final.
                if (!mayBeStale) throw new AddressUnavailableException(refusal);
                mayBeStale = false;
                continue;
            }
            if (claimsFreeBlock && mayBeStale)
            {
                mayBeStale = false;
                continue;
            }
            AddChangedBlocks(state, expectations, writes);
            writes.Add(new StoreWrite(attachmentKey, new AttachmentRecord(containerId, ifName, addresses).Encode()));
            var outcome = _store.CommitOrRead(expectations, writes, queries);
            if (outcome.Succeeded)
            {
                SaveCacheAfterCommit(state, writes, outcome.Revision);
                return ToAllocation(new AttachmentRecord(containerId, ifName, addresses));
            }
            // The failure answered with the current state (linearizable): plan again on it, at once when the plan was
            // made on a view that was perhaps only stale, after a short pause when it lost a race.
            next = NodeStateFrom(outcome.Reads!);
            SaveCache(next.Blocks.Select(b => b.Stored));
            if (!mayBeStale) Backoff(attempt);
            mayBeStale = false;
        }
        throw new ClusterStoreConflictException($"cluster-ipam: gave up after {_maxAttempts} conflicting concurrent updates; try again");
    }

    /// <summary>
    /// The requested address of each pool (null: none), as host-local assigns them to range sets: each address to
    /// the first pool that contains it, at most one per pool. Every address must fall in a pool and must not be a
    /// pool's network, broadcast or gateway address; checked before the store is asked anything.
    /// </summary>
    private IPAddress?[] RequestedPerPool()
    {
        var pools = _config.Pools;
        var perPool = new IPAddress?[pools.Count];
        if (_config.RequestedAddresses.Count == 0) return perPool;
        var pending = new List<IPAddress>(_config.RequestedAddresses);
        for (int p = 0; p < pools.Count; p++)
        {
            for (int k = 0; k < pending.Count; k++)
            {
                if (!pools[p].Subnet.Contains(pending[k])) continue;
                perPool[p] = pending[k];
                pending.RemoveAt(k);
                break;
            }
        }
        if (pending.Count > 0)
        {
            var outside = pending.FindAll(a => !pools.Any(p => p.Subnet.Contains(a)));
            throw new AddressUnavailableException(outside.Count > 0
                ? $"cluster-ipam: requested IP address {string.Join(", ", outside.Select(IPAddressMath.Format))} is not in any pool ({string.Join(", ", pools.Select(p => p.Subnet))})"
                : $"cluster-ipam: failed to allocate all requested IPs: {string.Join(" ", pending.Select(IPAddressMath.Format))} (each requested address must fall in a different pool)");
        }
        for (int p = 0; p < pools.Count; p++)
        {
            if (perPool[p] is not { } a) continue;
            var pool = pools[p];
            var n = IPAddressMath.ToNumber(a);
            string? why = n == pool.Subnet.First ? "is the network address of"
                : !pool.IsV6 && n == pool.Subnet.Last ? "is the broadcast address of"
                : pool.Gateway is not null && n == IPAddressMath.ToNumber(pool.Gateway) ? "is the gateway of"
                : null;
            if (why is not null) throw new AddressUnavailableException($"cluster-ipam: requested IP address {IPAddressMath.Format(a)} {why} pool {pool.Subnet}");
        }
        return perPool;
    }

    /// <summary>The block of the pool that holds <paramref name="address"/>.</summary>
    private static AddressPrefix BlockOf(ClusterPool pool, IPAddress address) =>
        pool.Block((IPAddressMath.ToNumber(address) - pool.Subnet.First) / pool.BlockAddresses);

    /// <summary>
    /// Takes the requested address for the handle: in the node's own block (marked changed), or in a new block
    /// record for this node when the block's claim is absent. Null with <paramref name="refusal"/> when the address is
    /// taken or its block belongs to another node.
    /// </summary>
    private ((AddressPrefix, AddressPrefix) Picked, BlockRecord? NewBlock)? TakeRequested(NodeState state, ClusterPool pool, IPAddress wanted,
        StoredValue? claim, string handle, out string? refusal)
    {
        refusal = null;
        var cidr = BlockOf(pool, wanted);
        var picked = (new AddressPrefix(wanted, pool.Subnet.PrefixLength), cidr);
        string shown = IPAddressMath.Format(wanted);
        for (int i = 0; i < state.Blocks.Count; i++)
        {
            var block = state.Blocks[i].Block;
            if (block.Cidr != cidr) continue;
            ulong offset = block.OffsetOf(wanted);
            if (block.Allocations.TryGetValue(offset, out var holder) && holder != handle)
            {
                refusal = $"cluster-ipam: requested IP address {shown} is already allocated to {holder} on node {Node}";
                return null;
            }
            block.Allocations[offset] = handle;
            block.EmptySince = 0;
            state.Changed.Add(i);
            return (picked, null);
        }
        if (claim is not null)
        {
            string owner = System.Text.Encoding.UTF8.GetString(claim.Value);
            refusal = owner == Node
                ? $"cluster-ipam: requested IP address {shown}: block {cidr} is claimed by node {Node} but has no block record (inconsistent store; 'cluster-ipam list' shows it)"
                : $"cluster-ipam: requested IP address {shown} is in block {cidr}, which node {owner} holds; a node hands out addresses only from its own blocks (strict affinity)";
            return null;
        }
        var record = new BlockRecord { Cidr = cidr, Pool = pool.Subnet, Node = Node };
        record.Allocations[record.OffsetOf(wanted)] = handle;
        return (picked, record);
    }

    /// <summary>A repeated ADD that asks for addresses must ask for the ones the attachment holds.</summary>
    private void CheckRecordedMatchesRequested(AttachmentRecord recorded, IPAddress?[] requested)
    {
        for (int p = 0; p < requested.Length; p++)
        {
            if (requested[p] is not { } wanted) continue;
            var pool = _config.Pools[p];
            foreach (var (address, _) in recorded.Addresses)
            {
                if (!pool.Subnet.Contains(address.Address) || address.Address.Equals(wanted)) continue;
                throw new AddressUnavailableException(
                    $"cluster-ipam: {IPAddressMath.Format(address.Address)} has been allocated to {recorded.ContainerId}/{recorded.IfName}; cannot also allocate requested {IPAddressMath.Format(wanted)}");
            }
        }
    }

    /// <summary>An address in a block this node holds for the pool, the block marked changed; null when they are all full.</summary>
    private (AddressPrefix, AddressPrefix)? AllocateInHeldBlocks(NodeState state, ClusterPool pool, string handle)
    {
        for (int i = 0; i < state.Blocks.Count; i++)
        {
            var block = state.Blocks[i].Block;
            if (block.Pool != pool.Subnet.Network) continue;
            if (Allocate(pool, block, handle) is { } picked)
            {
                state.Changed.Add(i);
                return picked;
            }
        }
        return null;
    }

    /// <summary>Takes the first free usable offset at or after the block's next offset (wrapping), for the handle.</summary>
    private static (AddressPrefix, AddressPrefix)? Allocate(ClusterPool pool, BlockRecord block, string handle)
    {
        ulong size = (ulong)pool.BlockAddresses;
        for (ulong n = 0; n < size; n++)
        {
            ulong offset = (block.Next + n) % size;
            if (block.Allocations.ContainsKey(offset)) continue;
            if (pool.IsReserved(block.Cidr.First + offset)) continue;
            block.Allocations[offset] = handle;
            block.Next = (offset + 1) % size;
            block.EmptySince = 0;
            return (new AddressPrefix(block.AddressAt(offset), pool.Subnet.PrefixLength), block.Cidr);
        }
        return null;
    }

    /// <summary>The lowest block of the pool nobody has claimed (reads the pool's claim keys, keys only).</summary>
    private AddressPrefix ClaimCandidate(ClusterPool pool, List<BlockRecord> alsoTaken)
    {
        var claims = _store.Read([new KeyQuery(_keys.PoolClaims(pool), Prefix: true, KeysOnly: true)])[0];
        var taken = new HashSet<UInt128>();
        foreach (var c in claims)
        {
            string cidr = c.Key[_keys.PoolClaims(pool).Length..];
            int dash = cidr.LastIndexOf('-');
            if (dash > 0 && IPAddressMath.TryParse(cidr.AsSpan(0, dash), out var a))
                taken.Add((IPAddressMath.ToNumber(a) - pool.Subnet.First) / pool.BlockAddresses);
        }
        foreach (var b in alsoTaken) taken.Add((b.Cidr.First - pool.Subnet.First) / pool.BlockAddresses);
        // The lowest index not taken: at most taken.Count + 1 candidates to look at.
        for (UInt128 index = 0; index < pool.BlockCount; index++)
        {
            if (taken.Contains(index)) continue;
            var block = pool.Block(index);
            if (HasUsableAddress(pool, block)) return block;
        }
        throw new PoolExhaustedException($"cluster-ipam: pool {pool.Subnet} has no free block of /{pool.BlockSize} left for node {Node} " +
            $"({claims.Count} of {pool.BlockCount} blocks claimed; release the blocks of departed nodes with 'cluster-ipam release-node')");
    }

    private static bool HasUsableAddress(ClusterPool pool, AddressPrefix block)
    {
        for (UInt128 a = block.First; a <= block.Last; a++)
        {
            if (!pool.IsReserved(a)) return true;
            if (a == block.Last) break;
        }
        return false;
    }

    private byte[] ClaimValue() => System.Text.Encoding.UTF8.GetBytes(Node);

    // ------------------------------------------------------------------ DEL

    /// <summary>Releases the attachment's addresses (only entries that name this attachment). Unknown attachments succeed.</summary>
    public void Del(string containerId, string ifName)
    {
        string handle = BlockRecord.Handle(containerId, ifName);
        string attachmentKey = _keys.Attachment(Node, containerId, ifName);
        var queries = NodeQueries(containerId, ifName, null);
        NodeState? next = null;
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var state = next ?? ReadNode(containerId, ifName);
            next = null;
            var expectations = new List<Expect>();
            var writes = new List<StoreWrite>();
            if (state.Attachment is { } record)
            {
                expectations.Add(new Expect(attachmentKey, record.ModRevision));
                writes.Add(StoreWrite.Delete(attachmentKey));
            }
            // Every entry of this attachment in the node's blocks (the record names them; a sweep costs nothing more).
            for (int i = 0; i < state.Blocks.Count; i++)
                if (Release(state.Blocks[i].Block, handle)) state.Changed.Add(i);
            AddChangedBlocks(state, expectations, writes);
            if (writes.Count == 0) return;
            var outcome = _store.CommitOrRead(expectations, writes, queries);
            if (outcome.Succeeded)
            {
                SaveCacheAfterCommit(state, writes, outcome.Revision);
                return;
            }
            next = NodeStateFrom(outcome.Reads!);
            Backoff(attempt);
        }
        throw new ClusterStoreConflictException($"cluster-ipam: gave up after {_maxAttempts} conflicting concurrent updates; try again");
    }

    private bool Release(BlockRecord block, string handle)
    {
        bool changed = false;
        foreach (var (offset, h) in block.Allocations.ToList())
        {
            if (h != handle) continue;
            block.Allocations.Remove(offset);
            changed = true;
        }
        if (changed && block.Allocations.Count == 0) block.EmptySince = _clock().ToUnixTimeSeconds();
        return changed;
    }

    /// <summary>
    /// Adds the changed blocks to the commit, at the revisions they were read, plus the release of this node's blocks
    /// that have been empty longer than the grace period (block and claim deleted together).
    /// </summary>
    private void AddChangedBlocks(NodeState state, List<Expect> expectations, List<StoreWrite> writes)
    {
        long now = _clock().ToUnixTimeSeconds();
        for (int i = 0; i < state.Blocks.Count; i++)
        {
            var (stored, block) = state.Blocks[i];
            bool expired = block.Allocations.Count == 0 && block.EmptySince != 0 && now - block.EmptySince >= (long)_config.BlockGrace.TotalSeconds;
            if (expired && expectations.Count + writes.Count + 3 <= MaxOpsPerCommit)
            {
                expectations.Add(new Expect(stored.Key, stored.ModRevision));
                writes.Add(StoreWrite.Delete(stored.Key));
                writes.Add(StoreWrite.Delete(_keys.Claim(KeyLayout.CidrKey(block.Pool), block.Cidr.ToString())));
            }
            else if (state.Changed.Contains(i))
            {
                expectations.Add(new Expect(stored.Key, stored.ModRevision));
                writes.Add(new StoreWrite(stored.Key, block.Encode()));
            }
        }
    }

    // ---------------------------------------------------------------- CHECK

    /// <summary>The attachment's addresses when its record exists and every address is held for it in a block of this node; else null.</summary>
    public IReadOnlyList<AddressPrefix>? Check(string containerId, string ifName)
    {
        var state = ReadNode(containerId, ifName);
        if (state.Attachment is null) return null;
        var record = AttachmentRecord.Decode(state.Attachment.Value);
        string handle = BlockRecord.Handle(containerId, ifName);
        foreach (var (address, blockCidr) in record.Addresses)
        {
            var held = state.Blocks.Find(b => b.Block.Cidr == blockCidr).Block;
            if (held is null || !held.Allocations.TryGetValue(held.OffsetOf(address.Address), out var h) || h != handle) return null;
        }
        return record.Addresses.Select(a => a.Address).ToList();
    }

    // ------------------------------------------------------------------- GC

    /// <summary>Releases this node's allocations whose attachment is not in <paramref name="valid"/>, and expired empty blocks.</summary>
    public int Gc(IReadOnlyCollection<Attachment> valid)
    {
        var keep = new HashSet<string>(valid.Count);
        foreach (var a in valid) keep.Add(BlockRecord.Handle(a.ContainerId, a.InterfaceName));
        int released = 0;
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var results = _store.Read([
                new KeyQuery(_keys.NodeAttachments(Node), Prefix: true, KeysOnly: true),
                new KeyQuery(_keys.NodeBlocks(Node), Prefix: true),
            ]);
            var state = new NodeState();
            foreach (var b in results[1]) state.Blocks.Add((b, BlockRecord.Decode(b.Value)));
            var expectations = new List<Expect>();
            var writes = new List<StoreWrite>();
            var stale = new HashSet<string>();
            string attachmentsPrefix = _keys.NodeAttachments(Node);
            foreach (var a in results[0])
            {
                string handle = a.Key[attachmentsPrefix.Length..];
                if (keep.Contains(handle)) continue;
                if (expectations.Count + writes.Count + 2 * state.Blocks.Count + 2 > MaxOpsPerCommit) break; // the rest in the next round
                stale.Add(handle);
                expectations.Add(new Expect(a.Key, a.ModRevision));
                writes.Add(StoreWrite.Delete(a.Key));
            }
            for (int i = 0; i < state.Blocks.Count; i++)
            {
                var block = state.Blocks[i].Block;
                bool changed = false;
                foreach (var (offset, h) in block.Allocations.ToList())
                {
                    // Entries of stale attachments, and entries whose attachment record is gone and that are not valid.
                    if (keep.Contains(h)) continue;
                    if (!stale.Contains(h) && results[0].Any(a => a.Key.AsSpan(attachmentsPrefix.Length).SequenceEqual(h))) continue;
                    block.Allocations.Remove(offset);
                    changed = true;
                }
                if (changed)
                {
                    if (block.Allocations.Count == 0) block.EmptySince = _clock().ToUnixTimeSeconds();
                    state.Changed.Add(i);
                }
            }
            AddChangedBlocks(state, expectations, writes);
            if (writes.Count == 0) return released;
            if (_store.Commit(expectations, writes))
            {
                released += stale.Count;
                attempt = -1; // progress: look again for what did not fit into this commit
                continue;
            }
            Backoff(attempt);
        }
        throw new ClusterStoreConflictException($"cluster-ipam: GC gave up after {_maxAttempts} conflicting concurrent updates; try again");
    }

    // --------------------------------------------------------------- STATUS

    /// <summary>A read through the store (for etcd, linearizable: needs a quorum).</summary>
    public void Status() => _store.Read([new KeyQuery(_keys.NodeBlocks(Node), Prefix: true, KeysOnly: true)]);

    // ---------------------------------------------------------------- admin

    /// <summary>Releases every block and attachment of <paramref name="node"/> (a node that left the cluster). Returns the blocks released.</summary>
    public int ReleaseNode(string node)
    {
        KeyLayout.ValidateNodeName(node);
        int released = 0;
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var blocks = _store.Read([new KeyQuery(_keys.NodeBlocks(node), Prefix: true)])[0];
            var attachments = _store.Read([new KeyQuery(_keys.NodeAttachments(node), Prefix: true, KeysOnly: true)])[0];
            if (blocks.Count == 0 && attachments.Count == 0) return released;
            var expectations = new List<Expect>();
            var writes = new List<StoreWrite>();
            int inCommit = 0;
            foreach (var b in blocks)
            {
                if (expectations.Count + writes.Count + 3 > MaxOpsPerCommit) break;
                var block = BlockRecord.Decode(b.Value);
                expectations.Add(new Expect(b.Key, b.ModRevision));
                writes.Add(StoreWrite.Delete(b.Key));
                writes.Add(StoreWrite.Delete(_keys.Claim(KeyLayout.CidrKey(block.Pool), block.Cidr.ToString())));
                inCommit++;
            }
            foreach (var a in attachments)
            {
                if (expectations.Count + writes.Count + 1 > MaxOpsPerCommit) break;
                writes.Add(StoreWrite.Delete(a.Key));
            }
            if (_store.Commit(expectations, writes))
            {
                released += inCommit;
                attempt = -1;
                continue;
            }
            Backoff(attempt);
        }
        throw new ClusterStoreConflictException($"cluster-ipam: release of node {node} gave up after {_maxAttempts} conflicts; try again");
    }

    // -------------------------------------------------------------- helpers

    private IpamAllocation ToAllocation(AttachmentRecord record)
    {
        var list = new List<AllocatedAddress>(record.Addresses.Count);
        for (int i = 0; i < record.Addresses.Count; i++)
        {
            var address = record.Addresses[i].Address;
            var pool = _config.Pools.FirstOrDefault(p => p.Subnet.Contains(address.Address));
            list.Add(new AllocatedAddress(address, pool?.Gateway!, i));
        }
        return new IpamAllocation(list, _config.Routes, _config.Dns);
    }

    /// <summary>A short randomized pause after a lost race, so racing writers spread out (bounded: at most ~50 ms).</summary>
    private static void Backoff(int attempt)
    {
        if (attempt == 0) return;
        Thread.Sleep(Random.Shared.Next(1, Math.Min(50, 5 * attempt) + 1));
    }
}
