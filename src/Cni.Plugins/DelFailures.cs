using Cni.Spec;

namespace Cni.Plugins;

/// <summary>
/// DEL is best effort: every step runs even when an earlier one failed, and the failures are reported
/// together at the end. The first <see cref="CniException"/> keeps its code (an IPAM plugin's own error
/// passes through); the others go into the details.
/// </summary>
public sealed class DelFailures
{
    private readonly List<(string Step, Exception Error)> _failures = [];

    public bool Any => _failures.Count > 0;

    /// <summary>Runs one step and records its failure instead of throwing.</summary>
    public void Try(string step, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            _failures.Add((step, e));
        }
    }

    public void ThrowIfAny()
    {
        if (_failures.Count == 0) return;
        var (firstStep, first) = _failures[0];
        int code = first is CniException ce ? ce.Code : ErrorCode.Internal;
        string details = string.Join("; ", _failures.Select(f => $"{f.Step}: {f.Error.Message}"));
        throw new CniException(code, $"failed to {firstStep}: {first.Message}", details);
    }
}
