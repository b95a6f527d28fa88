using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Spec;

namespace Cni.Plugins;

/// <summary>Opening the container's network namespace from CNI_NETNS, with the CNI errors a runtime expects.</summary>
public static class ContainerNamespace
{
    /// <summary>Opens the namespace; a missing one is error 3 (container unknown or absent).</summary>
    public static NetNs Open(string path)
    {
        try
        {
            return NetNs.Open(path);
        }
        catch (NamespaceNotFoundException)
        {
            throw new CniException(ErrorCode.UnknownContainer, $"failed to open netns \"{path}\": no such file or directory");
        }
        catch (ArgumentException e)
        {
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"invalid CNI_NETNS \"{path}\"", e.Message);
        }
        catch (LinuxException e)
        {
            throw new CniException(ErrorCode.UnknownContainer, $"failed to open netns \"{path}\": {e.Message}");
        }
    }

    /// <summary>Opens the namespace, or returns null when it no longer exists (for DEL).</summary>
    public static NetNs? TryOpen(string path)
    {
        if (string.IsNullOrEmpty(path)) return null;
        try
        {
            return NetNs.Open(path);
        }
        catch (NamespaceNotFoundException)
        {
            return null;
        }
        catch (ArgumentException e)
        {
            throw new CniException(ErrorCode.InvalidEnvironmentVariables, $"invalid CNI_NETNS \"{path}\"", e.Message);
        }
    }
}
