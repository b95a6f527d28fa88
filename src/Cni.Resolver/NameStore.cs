using System.Diagnostics;
using System.Text;

namespace Cni.Resolver;

/// <summary>
/// The directory of names files, one per network (<c>&lt;dir&gt;/&lt;network&gt;.names</c>). A change is a
/// read-modify-write under an exclusive lock on <c>&lt;network&gt;.lock</c> (flock through FileShare.None; it dies with
/// the process) and lands atomically (a temporary file renamed over the old one), so the resolver never reads half a
/// file. A network whose last entry goes loses its file. Network names are validated by the caller (no '/', no "..").
/// </summary>
public sealed class NameStore(string directory)
{
    public const string DefaultDirectory = "/run/sharpcni/dnsname";
    public const string Extension = ".names";

    public string Directory { get; } = directory;

    public string FileOf(string network) => Path.Combine(Directory, network + Extension);

    /// <summary>Where a new version is written before it is renamed over <see cref="FileOf"/>.</summary>
    public string TempOf(string network) => FileOf(network) + ".tmp";

    /// <summary>The network's names, or null when it has none (no file: never written, or cleared by a reboot of /run).</summary>
    public NetworkNames? Read(string network)
    {
        try
        {
            return NetworkNames.Parse(File.ReadAllText(FileOf(network), Encoding.UTF8));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the network's names (a new empty set when there is no file) under the lock
    /// and writes the result; deletes the file when no entry is left. Throws IOException (lock timeout included).
    /// </summary>
    public void Update(string network, Action<NetworkNames> change, TimeSpan? lockTimeout = null)
    {
        System.IO.Directory.CreateDirectory(Directory);
        using var held = Lock(network, lockTimeout ?? TimeSpan.FromSeconds(30));
        var names = Read(network) ?? new NetworkNames();
        change(names);
        string path = FileOf(network);
        string temp = TempOf(network);
        if (names.Entries.Count == 0)
        {
            File.Delete(path);
            File.Delete(temp); // one a writer killed before its rename left
            return;
        }
        try
        {
            File.WriteAllText(temp, names.Format(), new UTF8Encoding(false));
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { /* best effort */ }
            throw;
        }
    }

    /// <summary>The networks that have a names file.</summary>
    public IEnumerable<string> Networks()
    {
        if (!System.IO.Directory.Exists(Directory)) yield break;
        foreach (var f in System.IO.Directory.EnumerateFiles(Directory, "*" + Extension))
            yield return Path.GetFileName(f)[..^Extension.Length];
    }

    private FileStream Lock(string network, TimeSpan timeout)
    {
        string path = Path.Combine(Directory, network + ".lock");
        var clock = Stopwatch.StartNew();
        int delayMs = 1;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException) when (clock.Elapsed < timeout)
            {
                // held by another call: wait and retry
            }
            catch (IOException e)
            {
                throw new IOException($"timed out after {timeout.TotalSeconds:0.#}s waiting for {path}", e);
            }
            Thread.Sleep(delayMs);
            delayMs = Math.Min(delayMs * 2, 50);
        }
    }
}
