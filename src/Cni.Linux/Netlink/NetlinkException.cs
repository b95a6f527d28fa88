using Cni.Linux.Interop;

namespace Cni.Linux.Netlink;

/// <summary>
/// The kernel refused a netlink request: the errno from NLMSG_ERROR plus, when the kernel
/// supplied one, its extended-ack text (NLMSGERR_ATTR_MSG) and the offending attribute offset.
/// </summary>
public sealed class NetlinkException : LinuxException
{
    public NetlinkException(Errno errno, string operation, ushort requestType, string? kernelMessage, int? attributeOffset)
        : base(errno, operation, kernelMessage)
    {
        RequestType = requestType;
        KernelMessage = kernelMessage;
        AttributeOffset = attributeOffset;
    }

    /// <summary>The nlmsg_type of the request that failed.</summary>
    public ushort RequestType { get; }

    /// <summary>The kernel's extended-ack message, e.g. "Unknown device type", if any.</summary>
    public string? KernelMessage { get; }

    /// <summary>Offset of the offending attribute in the request (NLMSGERR_ATTR_OFFS), if given.</summary>
    public int? AttributeOffset { get; }
}
