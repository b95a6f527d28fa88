using System.Runtime.InteropServices;

namespace Cni.Linux.Interop;

/// <summary>
/// A failed system call: carries the errno (named like the kernel does, ENOENT, EEXIST) and
/// what was being done. Every errno in this library becomes one of these, in one place.
/// </summary>
public class LinuxException : Exception
{
    public LinuxException(Errno errno, string operation)
        : this(errno, operation, detail: null)
    {
    }

    public LinuxException(Errno errno, string operation, string? detail)
    {
        Errno = errno;
        Operation = operation;
        _detail = detail;
    }

    private readonly string? _detail;
    private string? _message;

    /// <summary>
    /// "operation: ENAME (text)[: detail]", composed when first read: many of these are answers a caller expects
    /// ("no such device" while probing a name) and are never shown, and naming an errno is not free.
    /// </summary>
    public override string Message => _message ??= Describe(Errno, Operation, _detail);

    /// <summary>The errno the kernel returned.</summary>
    public Errno Errno { get; }

    /// <summary>What was being attempted, e.g. "open /var/run/netns/x".</summary>
    public string Operation { get; }

    /// <summary>The kernel's name for the errno (ENOENT), or the number when unnamed.</summary>
    public string ErrnoName => NameOf(Errno);

    /// <summary>True when the errno says the object does not exist (ENOENT, ENODEV, ESRCH, ENXIO).</summary>
    public bool IsNotFound => Errno is Errno.ENOENT or Errno.ENODEV or Errno.ESRCH or Errno.ENXIO;

    /// <summary>Creates an exception from the errno of the last P/Invoke call.</summary>
    internal static LinuxException FromLastError(string operation)
        => new((Errno)Marshal.GetLastPInvokeError(), operation);

    internal static string NameOf(Errno errno)
        => Enum.IsDefined(errno) ? errno.ToString() : "errno " + ((int)errno).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Describe(Errno errno, string operation, string? detail)
    {
        string text = Marshal.GetPInvokeErrorMessage((int)errno);
        return detail is null
            ? $"{operation}: {NameOf(errno)} ({text})"
            : $"{operation}: {NameOf(errno)} ({text}): {detail}";
    }
}
