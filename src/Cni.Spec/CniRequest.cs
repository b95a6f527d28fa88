using System.Text.Json;

namespace Cni.Spec;

/// <summary>Everything one plugin invocation receives: the CNI_* variables, the config and its raw bytes.</summary>
public sealed class CniRequest
{
    public required string Command { get; init; }
    public string ContainerId { get; init; } = "";
    /// <summary>Path of the container's network namespace; empty when the runtime sent none (DEL may).</summary>
    public string Netns { get; init; } = "";
    public string IfName { get; init; } = "";
    public CniArgs Args { get; init; } = CniArgs.Empty;
    /// <summary>The directories of CNI_PATH.</summary>
    public IReadOnlyList<string> Path { get; init; } = [];
    public required NetworkConfig Config { get; init; }
    /// <summary>The configuration exactly as it arrived on stdin (for plugin-specific decoding and IPAM delegation).</summary>
    public required byte[] StdinData { get; init; }
    /// <summary>The environment the plugin was started with (passed on to a delegated IPAM plugin).</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>The spec version of the config.</summary>
    public string Version => Config.Version;

    private Result? _prevResult;
    private bool _prevResultParsed;

    /// <summary><c>prevResult</c> converted to the newest result form, or null when there is none.</summary>
    public Result? PrevResult
    {
        get
        {
            if (!_prevResultParsed)
            {
                _prevResultParsed = true;
                if (Config.PrevResult is { ValueKind: JsonValueKind.Object } prev)
                    _prevResult = ResultCodec.Parse(prev, Version);
            }
            return _prevResult;
        }
    }

    /// <summary>GC's list of attachments still in use (<c>cni.dev/valid-attachments</c>, or the older <c>cni.dev/attachments</c>); a missing key is an empty list.</summary>
    public IReadOnlyList<Attachment> ValidAttachments
    {
        get
        {
            var extra = Config.Extra;
            if (extra is null) return [];
            string key = "cni.dev/valid-attachments";
            if (!TryGetExtra(extra, key, out var value))
            {
                key = "cni.dev/attachments";
                if (!TryGetExtra(extra, key, out value)) return [];
            }
            try
            {
                return Attachment.ReadList(value, $"$['{key}']") ?? [];
            }
            catch (JsonException e)
            {
                throw new CniException(ErrorCode.DecodingFailure, $"invalid cni.dev/valid-attachments: {e.Message}");
            }
        }
    }

    // A top-level field the config kept aside, by its name or (as Go matches keys) a folded one.
    private static bool TryGetExtra(Dictionary<string, JsonElement> extra, string name, out JsonElement value)
    {
        if (extra.TryGetValue(name, out value)) return true;
        var field = new JsonFields(name);
        foreach (var (key, v) in extra)
        {
            if (field.Match(key) is not null)
            {
                value = v;
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// A runtimeConfig entry (a capability's value), or null when it is absent or JSON null; the key is matched as Go's
    /// encoding/json matches a struct field (<see cref="JsonFields"/>).
    /// </summary>
    public JsonElement? RuntimeConfigValue(string key)
    {
        if (Config.RuntimeConfig is not { } runtimeConfig || !JsonFields.TryGet(runtimeConfig, key, out var value) || JsonRead.IsNull(value))
            return null;
        return value;
    }
}
