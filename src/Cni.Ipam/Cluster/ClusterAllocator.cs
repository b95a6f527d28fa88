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

    public ClusterAllocator(ClusterIpamConfig config, IClusterStore store, Func<DateTimeOffset>? clock = null, int maxAttempts = 40)
    {
        _config = config;
        _store = store;
        _clock = clock ?? (() => DateTimeOffset.UtcNow);
        _maxAttempts = maxAttempts;
        _keys = new KeyLayout(config.Prefix);
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
    }

    private NodeState ReadNode(string containerId, string ifName, bool mayBeStale = false)
    {
        var results = _store.Read([
            new KeyQuery(_keys.Attachment(Node, containerId, ifName)),
            new KeyQuery(_keys.NodeBlocks(Node), Prefix: true),
        ], mayBeStale);
        var state = new NodeState { Attachment = results[0].Count > 0 ? results[0][0] : null };
        foreach (var b in results[1]) state.Blocks.Add((b, BlockRecord.Decode(b.Value)));
        return state;
    }

    // ------------------------------------------------------------------ ADD

    /// <summary>One address from each pool for the attachment; the same addresses again when it already has them.</summary>
    public IpamAllocation Add(string containerId, string ifName)
    {
        string handle = BlockRecord.Handle(containerId, ifName);
        string attachmentKey = _keys.Attachment(Node, containerId, ifName);
        // The first read may be stale (served by the member without a round through the leader): every block it
        // changes and the attachment's absence are expectations of the commit, so a stale read costs at most a retry,
        // which reads linearizably. An existing record is only believed from a linearizable read (a stale one may
        // show an allocation that a DEL has released since).
        bool mayBeStale = true;
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var state = ReadNode(containerId, ifName, mayBeStale);
            if (state.Attachment is { } existing)
            {
                if (mayBeStale)
                {
                    mayBeStale = false;
                    continue;
                }
                return ToAllocation(AttachmentRecord.Decode(existing.Value));
            }

            var expectations = new List<Expect> { new(attachmentKey, 0) };
            var writes = new List<StoreWrite>();
            var addresses = new List<(AddressPrefix Address, AddressPrefix Block)>();
            var newBlocks = new List<BlockRecord>();
            foreach (var pool in _config.Pools)
            {
                var picked = AllocateInHeldBlocks(state, pool, handle);
                if (picked is null)
                {
                    // Every held block of this pool is full: claim the lowest free block of the pool.
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
            AddChangedBlocks(state, expectations, writes);
            writes.Add(new StoreWrite(attachmentKey, new AttachmentRecord(containerId, ifName, addresses).Encode()));
            if (_store.Commit(expectations, writes))
                return ToAllocation(new AttachmentRecord(containerId, ifName, addresses));
            if (mayBeStale)
            {
                mayBeStale = false; // perhaps only stale: read again at once, linearizably
                continue;
            }
            Backoff(attempt);
        }
        throw new ClusterStoreConflictException($"cluster-ipam: gave up after {_maxAttempts} conflicting concurrent updates; try again");
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
        for (int attempt = 0; attempt < _maxAttempts; attempt++)
        {
            var state = ReadNode(containerId, ifName);
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
            if (_store.Commit(expectations, writes)) return;
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
