using Cni.Plugins;

namespace Cni.Plugins.Tests;

public class RollbackTests
{
    [Fact]
    public void Failure_unwinds_steps_in_reverse_order()
    {
        var order = new List<string>();
        try
        {
            using var rollback = new Rollback(TextWriter.Null);
            rollback.Add("a", () => order.Add("undo a"));
            rollback.Add("b", () => order.Add("undo b"));
            rollback.Add("c", () => order.Add("undo c"));
            throw new InvalidOperationException("step d failed");
        }
        catch (InvalidOperationException) { }
        Assert.Equal(["undo c", "undo b", "undo a"], order);
    }

    [Fact]
    public void Commit_discards_every_undo_step()
    {
        var order = new List<string>();
        using (var rollback = new Rollback(TextWriter.Null))
        {
            rollback.Add("a", () => order.Add("undo a"));
            rollback.Commit();
        }
        Assert.Empty(order);
    }

    [Fact]
    public void A_failing_undo_step_does_not_stop_the_others_and_is_reported()
    {
        var order = new List<string>();
        var errors = new StringWriter();
        var rollback = new Rollback(errors);
        rollback.Add("a", () => order.Add("undo a"));
        rollback.Add("b", () => throw new IOException("boom"));
        rollback.Add("c", () => order.Add("undo c"));
        var failures = rollback.Unwind();
        Assert.Equal(["undo c", "undo a"], order);
        Assert.Single(failures);
        Assert.Contains("b failed: boom", errors.ToString());
    }

    [Fact]
    public void Unwind_runs_each_step_once()
    {
        int runs = 0;
        var rollback = new Rollback(TextWriter.Null);
        rollback.Add("a", () => runs++);
        rollback.Unwind();
        rollback.Dispose();
        Assert.Equal(1, runs);
        Assert.Equal(0, rollback.Count);
    }
}
