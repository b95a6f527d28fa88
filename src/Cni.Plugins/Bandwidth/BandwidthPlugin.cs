using System.Text;
using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Linux.Tc;
using Cni.Spec;

namespace Cni.Plugins.Bandwidth;

/// <summary>
/// The bandwidth plugin, chained after an interface plugin that gives the container a veth (bridge, ptp): limits
/// what reaches the container with a TBF qdisc on the host end of the veth ("ingress"), and what the container
/// sends by redirecting the host end's received traffic (ingress qdisc, u32 match-all filter, mirred) to an IFB
/// device whose TBF shapes it ("egress"). Names, computations and result shape as the reference plugin: the IFB
/// is <c>bwp</c> + SHA-512(network name + container ID) cut to 15 characters and is added to the result's
/// interfaces. Everything over rtnetlink. The IFB also carries an alias naming its network and attachment, so
/// GC finds the IFBs of attachments that are gone.
/// </summary>
public sealed class BandwidthPlugin : CniPlugin
{
    public const string IfbPrefix = "bwp";
    /// <summary>Start of the IFB's alias; the network name and the attachment's tag follow.</summary>
    public const string AliasPrefix = "sharpcni bandwidth ";

    public override string Name => "bandwidth";

    /// <summary>As the reference: from 0.3.0 on (a chained plugin needs prevResult).</summary>
    public override IReadOnlyList<string> SupportedVersions { get; } =
        [CniVersion.V030, CniVersion.V031, CniVersion.V040, CniVersion.V100, CniVersion.V110];

    /// <summary>The reference's IFB name for a container of a network.</summary>
    public static string IfbName(string network, string containerId)
    {
        byte[] digest = Sha512.Hash(Encoding.UTF8.GetBytes(network + containerId));
        return IfbPrefix + Convert.ToHexStringLower(digest)[..(LinkName.MaxLength - IfbPrefix.Length)];
    }

    public override Result Add(CniRequest request)
    {
        var bandwidth = BandwidthConfig.Parse(request.StdinData).Effective();
        var prev = request.PrevResult;
        if (bandwidth is null || bandwidth.IsZero)
            return prev ?? new Result();
        if (prev is null)
            throw new CniException(ErrorCode.InvalidNetworkConfig, "must be called as chained plugin", "bandwidth needs the prevResult of an interface plugin (bridge, ptp)");
        string network = request.Config.Name!;
        Names.ValidateNetworkName(network);
        var attachment = Cni.Spec.Attachment.Create(request.ContainerId, request.IfName);
        double ticks = TokenBucket.TicksPerMicrosecondHere();
        TbfParameters? ingress = bandwidth.ShapesIngress ? Parameters(bandwidth.IngressRate, bandwidth.IngressBurst, "ingress", ticks) : null;
        TbfParameters? egress = bandwidth.ShapesEgress ? Parameters(bandwidth.EgressRate, bandwidth.EgressBurst, "egress", ticks) : null;

        using var host = RouteSocket.Open();
        Link veth = HostVeth(host, prev, request);
        string ifbName = IfbName(network, request.ContainerId);

        using var rollback = new Rollback();
        try
        {
            // The host veth is this attachment's own (the peer of its container interface, listed in prevResult):
            // shaping found there was made by an earlier ADD of it whose DEL never ran to the end. It is replaced,
            // not reported as a conflict (found by failing each system call of ADD and DEL in turn).
            RemoveShaping(host, veth);
            if (host.GetLink(ifbName) is { Kind: "ifb" } stale && stale.Alias == AliasPrefix + network + " " + attachment.Tag)
                host.DeleteLink(stale.Index);
            if (ingress is { } i)
            {
                host.AddTbf(veth.Index, TrafficControl.TC_H_ROOT, TrafficControl.MakeHandle(1, 0), i);
                rollback.Add("delete the TBF qdisc of " + veth.Name, () => host.DeleteQdisc(veth.Index, TrafficControl.TC_H_ROOT));
            }
            if (egress is { } e)
            {
                host.AddLink(new IfbSpec(ifbName) { Mtu = veth.Mtu });
                // Undone by name: the lookup of its index can fail too (found by failing each sendto of ADD in turn).
                rollback.Add("delete ifb " + ifbName, () =>
                {
                    if (host.GetLink(ifbName) is { Kind: "ifb" } made) host.DeleteLink(made.Index);
                });
                Link ifb = host.GetLink(ifbName) ?? throw new CniException(ErrorCode.Internal, $"ifb device {ifbName} vanished after it was created");
                host.SetLinkAlias(ifb.Index, AliasPrefix + network + " " + attachment.Tag);
                host.SetLinkUp(ifb.Index);
                host.AddIngressQdisc(veth.Index);
                rollback.Add("delete the ingress qdisc of " + veth.Name, () => host.DeleteQdisc(veth.Index, TrafficControl.TC_H_INGRESS, TrafficControl.IngressHandle));
                host.AddRedirectFilter(veth.Index, TrafficControl.IngressHandle, 1, TrafficControl.MakeHandle(1, 1), ifb.Index);
                host.AddTbf(ifb.Index, TrafficControl.TC_H_ROOT, TrafficControl.MakeHandle(1, 0), e);
                prev.AddInterface(new Interface { Name = ifbName, Mac = ifb.Address is { } mac ? HardwareAddress.FromBytes(mac.GetAddressBytes()).ToString() : null });
            }
        }
        catch (NetlinkException ex) when (ex.Errno == Errno.EEXIST)
        {
            throw new CniException(ErrorCode.Internal, $"bandwidth: {ex.Message}",
                $"{veth.Name} already has a qdisc of its own, or {ifbName} exists (an ADD of this container and network without DEL)");
        }
        catch (NetlinkException ex)
        {
            throw new CniException(ErrorCode.Internal, $"bandwidth: {ex.Message}", ex.ErrnoName);
        }
        rollback.Commit();
        return prev;
    }

    public override void Del(CniRequest request)
    {
        // Removes what ADD made: the TBF and the ingress qdisc (with its redirect filter) on the host veth, then the
        // IFB. The reference deletes only the IFB and leaves the qdiscs to go with the veth; but a veth can outlive a
        // DEL of this plugin (its interface plugin's DEL failed, or only this plugin of a chain was retried), and an
        // ADD on it then failed with EEXIST. Needs neither prevResult nor the namespace: without the namespace the
        // veth is gone, and the qdiscs with it. A config that does not validate still deletes.
        string network = request.Config.Name ?? "";
        using var host = RouteSocket.Open();
        var failures = new DelFailures();
        failures.Try("remove the qdiscs of the host veth", () =>
        {
            if (HostVethIfPresent(host, request) is { } veth) RemoveShaping(host, veth);
        });
        failures.Try("delete the ifb device", () =>
        {
            if (host.GetLink(IfbName(network, request.ContainerId)) is { Kind: "ifb" } ifb)
                host.DeleteLink(ifb.Index);
        });
        failures.ThrowIfAny();
    }

    /// <summary>
    /// Removes from <paramref name="veth"/> (this attachment's host end) the shaping ADD puts there: a root TBF, and
    /// an ingress qdisc whose filters are all u32 at ADD's priority 1 (the dump lists the redirect and the u32 hash
    /// table holding it), or that has none (ADD was stopped before its filter).
    /// A qdisc of another kind is not ours and stays.
    /// </summary>
    private static void RemoveShaping(RouteSocket host, Link veth)
    {
        bool ingress = false;
        foreach (var q in host.ListQdiscs(veth.Index))
        {
            if (q.Parent == TrafficControl.TC_H_ROOT && q.Kind == "tbf")
                host.DeleteQdisc(veth.Index, TrafficControl.TC_H_ROOT);
            else if (q.Parent == TrafficControl.TC_H_INGRESS && q.Kind == "ingress")
                ingress = true;
        }
        if (!ingress) return;
        foreach (var f in host.ListFilters(veth.Index, TrafficControl.IngressHandle))
            if (f.Kind != "u32" || f.Priority != 1) return;
        host.DeleteQdisc(veth.Index, TrafficControl.TC_H_INGRESS, TrafficControl.IngressHandle);
    }

    /// <summary>
    /// DEL's lookup of the host veth: the peer of the container interface, when the namespace and the interface are
    /// still there (else the veth went with them); when prevResult is given it must list the peer, as for ADD.
    /// </summary>
    private static Link? HostVethIfPresent(RouteSocket host, CniRequest request)
    {
        int peerIndex;
        using (var netns = ContainerNamespace.TryOpen(request.Netns))
        {
            if (netns is null) return null;
            using var container = RouteSocket.OpenIn(netns);
            if (container.GetLink(request.IfName) is not { Kind: "veth", ParentIndex: > 0 } inside) return null;
            peerIndex = inside.ParentIndex;
        }
        if (host.GetLink(peerIndex) is not { } peer) return null;
        Result? prev;
        try
        {
            prev = request.PrevResult;
        }
        catch (CniException)
        {
            prev = null; // DEL goes on with a prevResult it cannot read
        }
        if (prev is { Interfaces: { Count: > 0 } interfaces }
            && !interfaces.Any(i => string.IsNullOrEmpty(i.Sandbox) && i.Name == peer.Name))
            return null;
        return peer;
    }

    public override void Check(CniRequest request)
    {
        var bandwidth = BandwidthConfig.Parse(request.StdinData).Effective();
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "must be called as a chained plugin", "bandwidth needs prevResult");
        using var host = RouteSocket.Open();
        Link veth = HostVeth(host, prev, request);
        if (bandwidth is null || bandwidth.IsZero) return;
        double ticks = TokenBucket.TicksPerMicrosecondHere();
        var problems = new List<string>();
        if (bandwidth.ShapesIngress)
            CheckTbf(host, veth, Parameters(bandwidth.IngressRate, bandwidth.IngressBurst, "ingress", ticks), problems);
        if (bandwidth.ShapesEgress)
        {
            string ifbName = IfbName(request.Config.Name!, request.ContainerId);
            if (host.GetLink(ifbName) is not { } ifb)
                throw new CniException(ErrorCode.Internal, $"get ifb device: ifb device {ifbName} not found");
            CheckTbf(host, ifb, Parameters(bandwidth.EgressRate, bandwidth.EgressBurst, "egress", ticks), problems);
            bool redirected = false;
            foreach (var f in host.ListFilters(veth.Index, TrafficControl.IngressHandle))
                redirected |= f.Kind == "u32" && f.RedirectIfIndex == ifb.Index;
            if (!redirected) problems.Add($"{veth.Name} does not redirect its received traffic to {ifbName}");
        }
        if (problems.Count > 0)
            throw new CniException(ErrorCode.Internal, problems[0], string.Join("; ", problems));
    }

    public override void Gc(CniRequest request)
    {
        string network = request.Config.Name ?? "";
        var valid = new HashSet<Cni.Spec.Attachment>();
        foreach (var a in request.ValidAttachments) valid.Add(new Cni.Spec.Attachment(a.ContainerId, a.IfName));
        string prefix = AliasPrefix + network + " ";
        using var host = RouteSocket.Open();
        foreach (Link link in host.ListLinks())
        {
            if (link.Kind != "ifb" || link.Alias is not { } alias || !alias.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (Cni.Spec.Attachment.TryParseTag(alias[prefix.Length..], out var attachment) && valid.Contains(attachment)) continue;
            host.DeleteLink(link.Index);
        }
    }

    private static TbfParameters Parameters(ulong rate, ulong burst, string direction, double ticks)
    {
        if (rate < 8)
            throw CniException.InvalidConfig($"invalid {direction}Rate {rate}: less than one byte per second");
        return TokenBucket.For(rate, burst, ticks);
    }

    /// <summary>The reference's CHECK: the root TBF's rate, limit and buffer.</summary>
    private static void CheckTbf(RouteSocket host, Link link, TbfParameters wanted, List<string> problems)
    {
        TbfParameters? found = null;
        foreach (var q in host.ListQdiscs(link.Index))
            if (q.Parent == TrafficControl.TC_H_ROOT && q.Tbf is { } t) found = t;
        if (found is not { } tbf) { problems.Add($"Failed to find qdisc: no tbf on {link.Name}"); return; }
        if (tbf.RateBytesPerSecond != wanted.RateBytesPerSecond) problems.Add($"Rate doesn't match on {link.Name}: {tbf.RateBytesPerSecond} bytes/s, want {wanted.RateBytesPerSecond}");
        if (tbf.LimitBytes != wanted.LimitBytes) problems.Add($"Limit doesn't match on {link.Name}: {tbf.LimitBytes}, want {wanted.LimitBytes}");
        if (tbf.BufferTicks != wanted.BufferTicks) problems.Add($"Buffer doesn't match on {link.Name}: {tbf.BufferTicks}, want {wanted.BufferTicks}");
    }

    /// <summary>
    /// As the reference: the container interface must be a veth; its peer (by index, in this namespace) must be one
    /// of prevResult's host-side interfaces.
    /// </summary>
    private static Link HostVeth(RouteSocket host, Result prev, CniRequest request)
    {
        if (prev.Interfaces is not { Count: > 0 })
            throw new CniException(ErrorCode.InvalidNetworkConfig, "no interfaces provided", "prevResult lists no interfaces");
        int peerIndex;
        using (var netns = ContainerNamespace.Open(request.Netns))
        using (var container = RouteSocket.OpenIn(netns))
        {
            Link? inside = container.GetLink(request.IfName);
            if (inside is null || inside.Kind != "veth" || inside.ParentIndex <= 0)
                throw new CniException(ErrorCode.InvalidNetworkConfig, $"container interface {request.IfName} has no veth peer",
                    inside is null ? $"{request.IfName} does not exist in {request.Netns}"
                        : $"{request.IfName} is a {inside.Kind ?? "device"} link; bandwidth shapes the host end of a veth pair (bridge, ptp plugins)");
            peerIndex = inside.ParentIndex;
        }
        Link peer = host.GetLink(peerIndex)
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, $"veth peer with index {peerIndex} is not in host ns");
        foreach (var iface in prev.Interfaces)
            if (string.IsNullOrEmpty(iface.Sandbox) && iface.Name == peer.Name) return peer;
        throw new CniException(ErrorCode.InvalidNetworkConfig, "no veth peer of container interface found in host ns",
            $"the peer of {request.IfName} is {peer.Name}, which prevResult does not list as a host interface");
    }
}
