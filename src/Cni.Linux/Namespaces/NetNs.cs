using System.Runtime.InteropServices;
using Cni.Linux.Interop;

namespace Cni.Linux.Namespaces;

/// <summary>
/// An open network namespace (a descriptor for /var/run/netns/NAME or /proc/PID/ns/net).
/// Code runs inside it with <see cref="Run{T}"/> on a dedicated OS thread that enters,
/// runs, switches back and exits, so no pooled thread is ever left in a foreign namespace.
/// </summary>
public sealed class NetNs : SafeHandle
{
    /// <summary>Where `ip netns` keeps named namespaces.</summary>
    public const string NamedNamespaceDirectory = "/var/run/netns";

    private NetNs(int fd, string path) : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
        Path = path;
    }

    /// <summary>The path this namespace was opened from.</summary>
    public string Path { get; }

    public override bool IsInvalid => (int)handle < 0;

    /// <summary>The raw descriptor (e.g. for IFLA_NET_NS_FD), valid while this handle is alive.</summary>
    public int Descriptor => (int)handle;

    /// <summary>ioctl(2) on a namespace file: its type (a CLONE_NEW* flag). _IO(0xb7, 0x3), linux/nsfs.h.</summary>
    private const uint NS_GET_NSTYPE = 0xb703;

    /// <summary>
    /// Opens a namespace by path. A missing path throws <see cref="NamespaceNotFoundException"/>
    /// (errno ENOENT) so DEL can tell "already gone" from real failures.
    /// </summary>
    public static NetNs Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path[0] != '/' || path.Contains('\0'))
        {
            throw new ArgumentException($"namespace path must be absolute: '{path}'", nameof(path));
        }
        // O_NONBLOCK: a FIFO given as the path must not hang the call; it is refused below like any other file.
        int fd = Libc.open(path, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK | Libc.O_NOCTTY, 0);
        if (fd < 0)
        {
            var error = (Errno)Marshal.GetLastPInvokeError();
            if (error == Errno.ENOENT)
            {
                throw new NamespaceNotFoundException(path);
            }
            throw new LinuxException(error, "open network namespace " + path);
        }
        // Only a network namespace: a regular file, a directory or another kind of namespace (a mount namespace's
        // file, say) is refused here, with a clear message, rather than by setns or the first netlink call.
        int type = Libc.ioctl(fd, NS_GET_NSTYPE);
        if (type != Libc.CLONE_NEWNET)
        {
            Libc.close(fd);
            throw new LinuxException(Errno.EINVAL, "open network namespace " + path,
                type < 0 ? "not a namespace file" : "a namespace, but not a network namespace");
        }
        return new NetNs(fd, path);
    }

    /// <summary>Opens a namespace created by `ip netns add NAME`.</summary>
    public static NetNs OpenNamed(string name) => Open(PathOfNamed(name));

    /// <summary>Opens the network namespace of a process.</summary>
    public static NetNs OpenOfProcess(int pid)
        => Open("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/ns/net");

    /// <summary>Opens the namespace the calling thread is in.</summary>
    public static NetNs OpenCurrent() => Open("/proc/thread-self/ns/net");

    /// <summary>The path of a named namespace, after checking the name is a plain file name.</summary>
    public static string PathOfNamed(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is "." or ".." || name.Length > 255 || name.AsSpan().IndexOfAny('/', '\0') >= 0)
        {
            throw new ArgumentException($"invalid namespace name '{name}'", nameof(name));
        }
        return NamedNamespaceDirectory + "/" + name;
    }

    /// <summary>
    /// Runs <paramref name="action"/> inside this namespace and returns its result. It runs on the calling thread,
    /// which enters the namespace for the duration and returns to its own (setns changes only the calling thread's
    /// namespace; the reference plugins do the same with a locked OS thread); a thread that cannot return stops the
    /// process. A dedicated thread per call cost more than the work inside most namespaces.
    /// </summary>
    public T Run<T>(Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        bool added = false;
        DangerousAddRef(ref added);
        try
        {
            return RunOnThisThread(action);
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> inside this namespace (see <see cref="Run{T}"/>).</summary>
    public void Run(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run<bool>(() =>
        {
            action();
            return true;
        });
    }

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;

    private T RunOnThisThread<T>(Func<T> action)
    {
        using SafeFileDescriptor original = SafeFileDescriptor.Open("/proc/thread-self/ns/net", Libc.O_RDONLY);
        if (Libc.setns(this, Libc.CLONE_NEWNET) != 0)
        {
            throw LinuxException.FromLastError("setns " + Path);
        }
        try
        {
            return action();
        }
        finally
        {
            if (Libc.setns(original, Libc.CLONE_NEWNET) != 0)
            {
                // A thread stuck in the wrong namespace could corrupt the host; stop now.
                Environment.FailFast("failed to switch back to the original network namespace after running in " + Path
                    + ": errno " + Marshal.GetLastPInvokeError().ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }
}

/// <summary>The namespace path does not exist (ENOENT): for DEL this means "nothing left to clean".</summary>
public sealed class NamespaceNotFoundException : LinuxException
{
    public NamespaceNotFoundException(string path) : base(Errno.ENOENT, "open network namespace " + path)
    {
        Path = path;
    }

    public string Path { get; }
}
