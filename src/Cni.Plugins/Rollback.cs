namespace Cni.Plugins;

/// <summary>
/// One ADD is one transaction: every step that creates something registers how to undo it right after it
/// succeeds; when the ADD fails the undo steps run in reverse order; when it succeeds, <see cref="Commit"/>
/// discards them.
/// <code>
/// using var rollback = new Rollback();
/// CreateVeth(...);   rollback.Add("delete veth", () => DeleteVeth(...));
/// ...
/// rollback.Commit();
/// return result;
/// </code>
/// An undo step that throws does not stop the others; its failure is written to the error writer
/// (stderr by default) because the original failure is the one the runtime must see.
/// </summary>
public sealed class Rollback : IDisposable
{
    private readonly List<(string What, Action Undo)> _steps = [];
    private readonly TextWriter? _errors;
    private bool _done;

    /// <summary>Console.Error is looked up only when an undo step fails: setting it up costs every ADD that succeeds.</summary>
    public Rollback(TextWriter? errors = null) => _errors = errors;

    /// <summary>The number of undo steps registered and not yet run or discarded.</summary>
    public int Count => _steps.Count;

    /// <summary>Registers the undo of a step that has just succeeded.</summary>
    public void Add(string what, Action undo)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        _steps.Add((what, undo));
    }

    /// <summary>The transaction succeeded: forget every undo step.</summary>
    public void Commit()
    {
        _steps.Clear();
        _done = true;
    }

    /// <summary>Runs the registered undo steps now, newest first, and returns the failures it met.</summary>
    public IReadOnlyList<string> Unwind()
    {
        var failures = new List<string>();
        for (int i = _steps.Count - 1; i >= 0; i--)
        {
            var (what, undo) = _steps[i];
            try
            {
                undo();
            }
            catch (Exception e)
            {
                string line = $"rollback: {what} failed: {e.Message}";
                failures.Add(line);
                (_errors ?? Console.Error).WriteLine(line);
            }
        }
        _steps.Clear();
        _done = true;
        return failures;
    }

    /// <summary>Unwinds unless <see cref="Commit"/> was called.</summary>
    public void Dispose()
    {
        if (!_done) Unwind();
        _done = true;
    }
}
