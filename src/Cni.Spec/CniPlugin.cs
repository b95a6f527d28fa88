namespace Cni.Spec;

/// <summary>
/// A plugin reads like the spec: one class with Add, Del, Check, Status and Gc. Parsing, version checks
/// and error printing belong to <see cref="Dispatcher"/>.
/// </summary>
public abstract class CniPlugin
{
    /// <summary>The plugin's CNI type, e.g. "bridge".</summary>
    public abstract string Name { get; }

    /// <summary>One line shown when the plugin runs with no CNI_COMMAND.</summary>
    public virtual string About => $"CNI {Name} plugin {BuildInfo.Version} (C#, NativeAOT)";

    /// <summary>Spec versions this plugin accepts; all of them by default.</summary>
    public virtual IReadOnlyList<string> SupportedVersions => CniVersion.All;

    public abstract Result Add(CniRequest request);
    public abstract void Del(CniRequest request);
    public abstract void Check(CniRequest request);

    /// <summary>STATUS (spec 1.1.0): throw code 50/51 when the plugin cannot serve ADDs. Ready by default.</summary>
    public virtual void Status(CniRequest request) { }

    /// <summary>GC (spec 1.1.0): release what belongs to no valid attachment. Nothing to collect by default.</summary>
    public virtual void Gc(CniRequest request) { }
}

public static class BuildInfo
{
    public const string Version = "0.1.0";
}
