using Cni.Linux.Interop;

namespace Cni.Plugins;

/// <summary>Best-effort sysctl writes in the calling thread's namespace (the reference ignores these failures too).</summary>
internal static class HostSysctl
{
    public static bool TryWrite(string key, string value)
    {
        try
        {
            Cni.Linux.Sysctl.Write(key, value);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            return false;
        }
    }
}
