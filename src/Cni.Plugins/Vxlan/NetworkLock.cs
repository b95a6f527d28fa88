using System.Diagnostics;
using Cni.Spec;

namespace Cni.Plugins.Vxlan;

/// <summary>
/// Serialises the calls that change one VNI's device, bridge and flood list on this host: an exclusive
/// flock(2) on /run/sharpcni/vxlan-&lt;vni&gt;.lock (.NET opens a file with FileShare.None through
/// flock(LOCK_EX|LOCK_NB)), polled with a short backoff. The lock dies with the process, so a crash never
/// leaves it held.
/// </summary>
public sealed class NetworkLock : IDisposable
{
    public const string DefaultDirectory = "/run/sharpcni";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly FileStream _file;

    private NetworkLock(FileStream file) => _file = file;

    public static string PathFor(uint vni, string directory = DefaultDirectory) =>
        System.IO.Path.Combine(directory, $"vxlan-{vni.ToString(System.Globalization.CultureInfo.InvariantCulture)}.lock");

    public static NetworkLock Acquire(uint vni, string directory = DefaultDirectory, TimeSpan? timeout = null)
    {
        string path = PathFor(vni, directory);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(ErrorCode.IOFailure, $"failed to create the lock directory {directory}: {e.Message}");
        }

        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        int delayMs = 1;
        while (true)
        {
            try
            {
                return new NetworkLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None));
            }
            catch (IOException) when (clock.Elapsed < limit)
            {
                // Held by another call (EWOULDBLOCK surfaces as a sharing violation): wait and retry.
            }
            catch (IOException e)
            {
                throw new CniException(ErrorCode.TryAgainLater, $"timed out after {limit.TotalSeconds:0.#}s waiting for {path}", e.Message);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new CniException(ErrorCode.IOFailure, $"failed to open the lock file {path}: {e.Message}");
            }
            Thread.Sleep(delayMs);
            delayMs = Math.Min(delayMs * 2, 50);
        }
    }

    public void Dispose() => _file.Dispose();
}
