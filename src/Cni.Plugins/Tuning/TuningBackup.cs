using System.Buffers;
using System.Text.Json;
using Cni.Spec;

namespace Cni.Plugins.Tuning;

/// <summary>
/// The values tuning changed, as they were before, kept for DEL to restore. The file is the reference's:
/// <c>&lt;dataDir&gt;/&lt;containerID&gt;_&lt;ifname&gt;.json</c> with <c>mac</c>, <c>promisc</c>, <c>mtu</c>, <c>allmulti</c>,
/// <c>txQLen</c> (each present only when tuning changed it), so a DEL of either implementation restores what the other's
/// ADD saved. We add <c>sysctl</c> (path under /proc/sys → previous value), which the reference ignores.
/// </summary>
public sealed class TuningBackup
{
    public string? Mac { get; set; }
    public bool? Promisc { get; set; }
    public int Mtu { get; set; }
    public bool? Allmulti { get; set; }
    public int? TxQLen { get; set; }
    public List<KeyValuePair<string, string>> Sysctl { get; set; } = [];

    public bool IsEmpty => Mac is null && Promisc is null && Mtu == 0 && Allmulti is null && TxQLen is null && Sysctl.Count == 0;

    /// <summary>The file of one attachment; the names were validated by the dispatcher (no '/', no "..").</summary>
    public static string PathOf(string dataDir, Attachment tag) => Path.Combine(dataDir, $"{tag.ContainerId}_{tag.IfName}.json");

    public byte[] ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (Mac is not null) w.WriteString("mac"u8, Mac);
            if (Promisc is { } promisc) w.WriteBoolean("promisc"u8, promisc);
            if (Mtu != 0) w.WriteNumber("mtu"u8, Mtu);
            if (Allmulti is { } allmulti) w.WriteBoolean("allmulti"u8, allmulti);
            if (TxQLen is { } txQLen) w.WriteNumber("txQLen"u8, txQLen);
            if (Sysctl.Count > 0)
            {
                w.WriteStartObject("sysctl"u8);
                foreach (var (key, value) in Sysctl) w.WriteString(key, value);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static readonly JsonFields Fields = new("mac", "promisc", "mtu", "allmulti", "txQLen", "sysctl");

    /// <summary>Reads a saved file; null when it is not one (the reference then restores nothing).</summary>
    public static TuningBackup? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonRead.ReadDocument(json, lenient: false, static root =>
            {
                if (root.ValueKind != JsonValueKind.Object) return null;
                var b = new TuningBackup();
                foreach (var p in root.EnumerateObject())
                {
                    var v = p.Value;
                    switch (Fields.Match(p))
                    {
                        case "mac": b.Mac = JsonRead.String(v, "$.mac"); break;
                        case "promisc": b.Promisc = JsonRead.NullableBool(v, "$.promisc"); break;
                        case "mtu": b.Mtu = JsonRead.Int32(v, "$.mtu"); break;
                        case "allmulti": b.Allmulti = JsonRead.NullableBool(v, "$.allmulti"); break;
                        case "txQLen": b.TxQLen = JsonRead.NullableInt32(v, "$.txQLen"); break;
                        case "sysctl": b.Sysctl = TuningConfig.ReadSysctl(v, "$.sysctl", rejectDuplicates: false) ?? []; break;
                    }
                }
                return b;
            });
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The temporary file <see cref="Save"/> writes before renaming it over <paramref name="path"/>: left behind when
    /// the process is killed between the two, so DEL deletes it too.
    /// </summary>
    public static string TempPathOf(string path) => path + ".tmp";

    /// <summary>Writes the file atomically (a temporary file renamed over it), mode 0600, making the directory (0700) if needed.</summary>
    public void Save(string path)
    {
        string temp = TempPathOf(path);
        try
        {
            if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("tuning runs on Linux only");
            WriteFile(path, temp, ToJson());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (Exception) { /* best effort */ }
            throw new CniException(ErrorCode.IOFailure, $"failed to save the previous values to {path}: {e.Message}");
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void WriteFile(string path, string temp, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using (var f = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            f.Write(bytes);
        }
        File.Move(temp, path, overwrite: true);
    }
}
