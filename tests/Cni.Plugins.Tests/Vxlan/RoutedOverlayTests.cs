using System.Net;
using Cni.Plugins.Vxlan;
using Cni.Spec;

namespace Cni.Plugins.Tests.Vxlan;

/// <summary>Routed mode's pure planning: what a host wants for the registrations, and what to add, replace and remove.</summary>
public class RoutedOverlayTests
{
    private const uint Vni = 42;

    private static VtepRegistration Reg(string node, string underlay, ulong mac, params string[] blocks) =>
        new(node, Vni, IPAddress.Parse(underlay), new HardwareAddress(mac), 4789, blocks);

    private static readonly VtepRegistration Me = Reg("me", "10.0.0.1", 0x02_00_00_00_00_01, "10.244.0.0/26");
    private static readonly VtepRegistration B = Reg("b", "10.0.0.2", 0x02_00_00_00_00_02, "10.244.0.64/26", "10.244.1.0/26");
    private static readonly VtepRegistration C = Reg("c", "10.0.0.3", 0x02_00_00_00_00_03, "10.244.0.128/26");

    private static SortedDictionary<(RoutedKind, string), RoutedEntry> Desired(params VtepRegistration[] regs) =>
        RoutedOverlay.Desired(regs, Vni, "me", IPAddress.Parse("10.0.0.1"));

    private static string Show(IEnumerable<RoutedStep> steps) => string.Join("\n", steps.Select(s => s.ToString()));

    /// <summary>A kernel holding exactly <paramref name="entries"/> on the device.</summary>
    private static RoutedKernelState Kernel(IEnumerable<RoutedEntry> entries)
    {
        var k = new RoutedKernelState();
        foreach (var e in entries)
        {
            switch (e.Kind)
            {
                case RoutedKind.Fdb:
                    if (!k.Fdb.TryGetValue(e.Key, out var set)) k.Fdb[e.Key] = set = [];
                    set.Add(e.Value);
                    break;
                case RoutedKind.Neigh: k.Neighbours[e.Key] = e.Value; break;
                case RoutedKind.Route: k.Routes[e.Key] = (e.Value, true); break;
            }
        }
        return k;
    }

    [Fact]
    public void Each_other_host_gets_an_fdb_entry_a_neighbour_and_a_route_per_ipv4_block()
    {
        var d = Desired(Me, B, C, Reg("v6blocks", "10.0.0.4", 0x02_00_00_00_00_04, "fd00::/122"));
        Assert.Equal(
        [
            "fdb 02:00:00:00:00:02 dst 10.0.0.2 (b)",
            "fdb 02:00:00:00:00:03 dst 10.0.0.3 (c)",
            "fdb 02:00:00:00:00:04 dst 10.0.0.4 (v6blocks)",
            "neigh 10.0.0.2 lladdr 02:00:00:00:00:02 (b)",
            "neigh 10.0.0.3 lladdr 02:00:00:00:00:03 (c)",
            "neigh 10.0.0.4 lladdr 02:00:00:00:00:04 (v6blocks)",
            "route 10.244.0.128/26 via 10.0.0.3 (c)",
            "route 10.244.0.64/26 via 10.0.0.2 (b)",
            "route 10.244.1.0/26 via 10.0.0.2 (b)",
        ], d.Values.Select(e => e.ToString()));
    }

    [Fact]
    public void This_node_its_address_other_vnis_ipv6_underlays_and_blocks_overlapping_its_own_are_left_out()
    {
        var notes = new List<string>();
        var d = RoutedOverlay.Desired(
        [
            Me,
            Reg("twin", "10.0.0.1", 0x02_00_00_00_00_09, "10.244.9.0/26"),
            new VtepRegistration("vni43", 43, IPAddress.Parse("10.0.0.5"), new HardwareAddress(0x02_00_00_00_00_05), 4789, ["10.244.5.0/26"]),
            Reg("v6", "fd00::6", 0x02_00_00_00_00_06, "10.244.6.0/26"),
            Reg("stale", "10.0.0.7", 0x02_00_00_00_00_07, "10.244.0.0/26", "10.244.7.0/26"), // still lists my block
        ], Vni, "me", IPAddress.Parse("10.0.0.1"), notes);
        Assert.Equal(["10.244.7.0/26"], d.Values.Where(e => e.Kind == RoutedKind.Route).Select(e => e.Key));
        Assert.All(d.Values, e => Assert.Equal("stale", e.Node));
        Assert.Contains(notes, n => n.Contains("overlaps a block of this node"));
        Assert.Contains(notes, n => n.Contains("not IPv4"));
    }

    [Fact]
    public void Two_hosts_claiming_one_block_the_first_by_name_wins_and_it_is_noted()
    {
        var notes = new List<string>();
        var d = RoutedOverlay.Desired([C, Reg("a", "10.0.0.8", 0x02_00_00_00_00_08, "10.244.0.128/26")], Vni, "me", null, notes);
        Assert.Equal("a", d[(RoutedKind.Route, "10.244.0.128/26")].Node);
        Assert.Single(notes);
    }

    [Fact]
    public void On_an_empty_kernel_everything_is_added_fdb_then_neighbours_then_routes_and_recorded()
    {
        var d = Desired(Me, B);
        var plan = RoutedOverlay.Plan(d, [], new RoutedKernelState(), removeDeparted: true);
        Assert.Equal("""
            add fdb 02:00:00:00:00:02 dst 10.0.0.2 (b)
            add neigh 10.0.0.2 lladdr 02:00:00:00:00:02 (b)
            add route 10.244.0.64/26 via 10.0.0.2 (b)
            add route 10.244.1.0/26 via 10.0.0.2 (b)
            """.ReplaceLineEndings("\n"), Show(plan.Steps));
        Assert.Equal(d.Values, plan.Ledger);
    }

    [Fact]
    public void Nothing_to_do_when_the_kernel_holds_what_the_ledger_says()
    {
        var d = Desired(Me, B, C);
        var plan = RoutedOverlay.Plan(d, d.Values, Kernel(d.Values), removeDeparted: true);
        Assert.Empty(plan.Steps);
        Assert.Equal(d.Values, plan.Ledger);
    }

    [Fact]
    public void A_host_that_left_loses_its_route_neighbour_and_fdb_entry_in_that_order_with_the_agent_only()
    {
        var before = Desired(Me, B, C);
        var after = Desired(Me, B);
        var agent = RoutedOverlay.Plan(after, before.Values, Kernel(before.Values), removeDeparted: true);
        Assert.Equal("""
            delete route 10.244.0.128/26 via 10.0.0.3 (c)
            delete neigh 10.0.0.3 lladdr 02:00:00:00:00:03 (c)
            delete fdb 02:00:00:00:00:03 dst 10.0.0.3 (c)
            """.ReplaceLineEndings("\n"), Show(agent.Steps));
        Assert.DoesNotContain(agent.Ledger, e => e.Node == "c");

        // The plugin's ADD only adds: c's entries stay, and stay recorded for the agent to remove later.
        var plugin = RoutedOverlay.Plan(after, before.Values, Kernel(before.Values), removeDeparted: false);
        Assert.Empty(plugin.Steps);
        Assert.Equal(before.Values.OrderBy(e => e.Id), plugin.Ledger.OrderBy(e => e.Id));
    }

    [Fact]
    public void A_new_block_of_a_host_adds_a_route_and_a_released_one_removes_it()
    {
        var before = Desired(Me, B);
        var grown = Desired(Me, Reg("b", "10.0.0.2", 0x02_00_00_00_00_02, "10.244.0.64/26", "10.244.1.0/26", "10.244.2.0/26"));
        Assert.Equal("add route 10.244.2.0/26 via 10.0.0.2 (b)", Show(RoutedOverlay.Plan(grown, before.Values, Kernel(before.Values), true).Steps));
        var shrunk = Desired(Me, Reg("b", "10.0.0.2", 0x02_00_00_00_00_02, "10.244.1.0/26"));
        Assert.Equal("delete route 10.244.0.64/26 via 10.0.0.2 (b)", Show(RoutedOverlay.Plan(shrunk, before.Values, Kernel(before.Values), true).Steps));
    }

    [Fact]
    public void A_host_that_moved_is_reprogrammed_and_its_old_fdb_entry_goes()
    {
        var before = Desired(Me, B);
        var moved = Desired(Me, Reg("b", "10.0.0.22", 0x02_00_00_00_00_02, "10.244.0.64/26", "10.244.1.0/26"));
        var plan = RoutedOverlay.Plan(moved, before.Values, Kernel(before.Values), true);
        Assert.Equal("""
            delete neigh 10.0.0.2 lladdr 02:00:00:00:00:02 (b)
            delete fdb 02:00:00:00:00:02 dst 10.0.0.2 (b)
            replace fdb 02:00:00:00:00:02 dst 10.0.0.22 (b)
            add neigh 10.0.0.22 lladdr 02:00:00:00:00:02 (b)
            replace route 10.244.0.64/26 via 10.0.0.22 (b)
            replace route 10.244.1.0/26 via 10.0.0.22 (b)
            """.ReplaceLineEndings("\n"), Show(plan.Steps));
        Assert.Equal(moved.Values, plan.Ledger);
    }

    [Fact]
    public void Entries_removed_by_hand_come_back()
    {
        var d = Desired(Me, B);
        var kernel = Kernel(d.Values.Where(e => e.Kind != RoutedKind.Neigh && e.Key != "10.244.1.0/26"));
        Assert.Equal("""
            add neigh 10.0.0.2 lladdr 02:00:00:00:00:02 (b)
            add route 10.244.1.0/26 via 10.0.0.2 (b)
            """.ReplaceLineEndings("\n"), Show(RoutedOverlay.Plan(d, d.Values, kernel, true).Steps));
    }

    [Fact]
    public void Entries_that_were_there_before_are_not_recorded_so_never_removed()
    {
        var d = Desired(Me, B);
        var plan = RoutedOverlay.Plan(d, [], Kernel(d.Values), removeDeparted: true);
        Assert.Empty(plan.Steps);
        Assert.Empty(plan.Ledger);
        // b leaves: nothing of it was ours.
        Assert.Empty(RoutedOverlay.Plan(Desired(Me), plan.Ledger, Kernel(d.Values), true).Steps);
    }

    [Fact]
    public void A_route_for_a_block_on_another_device_is_left_alone_and_noted()
    {
        var d = Desired(Me, B);
        var kernel = new RoutedKernelState();
        kernel.Routes["10.244.0.64/26"] = ("192.168.1.1", false);
        var plan = RoutedOverlay.Plan(d, [], kernel, true);
        Assert.DoesNotContain(plan.Steps, s => s.Entry.Key == "10.244.0.64/26");
        Assert.DoesNotContain(plan.Ledger, e => e.Key == "10.244.0.64/26");
        Assert.Contains(plan.Notes, n => n.Contains("another device"));
    }

    [Fact]
    public void A_wrong_or_non_permanent_neighbour_is_replaced_and_then_ours()
    {
        var d = Desired(Me, B);
        var kernel = Kernel(d.Values);
        kernel.Neighbours["10.0.0.2"] = null; // incomplete, stale or learned
        var plan = RoutedOverlay.Plan(d, [], kernel, true);
        Assert.Equal("replace neigh 10.0.0.2 lladdr 02:00:00:00:00:02 (b)", Show(plan.Steps));
        Assert.Equal(["neigh"], plan.Ledger.Select(e => e.Kind.ToString().ToLowerInvariant()));
    }

    [Fact]
    public void A_ledger_entry_already_gone_from_the_kernel_is_dropped_without_a_step()
    {
        var before = Desired(Me, B, C);
        var kernel = Kernel(before.Values.Where(e => e.Node != "c"));
        var plan = RoutedOverlay.Plan(Desired(Me, B), before.Values, kernel, true);
        Assert.Empty(plan.Steps);
        Assert.DoesNotContain(plan.Ledger, e => e.Node == "c");
    }

    [Fact]
    public void A_neighbour_an_admin_changed_to_another_mac_is_not_deleted_when_its_host_leaves()
    {
        var before = Desired(Me, B);
        var kernel = Kernel(before.Values);
        kernel.Neighbours["10.0.0.2"] = "02:aa:00:00:00:02";
        var plan = RoutedOverlay.Plan(Desired(Me), before.Values, kernel, true);
        Assert.DoesNotContain(plan.Steps, s => s.Entry.Kind == RoutedKind.Neigh);
    }
}
