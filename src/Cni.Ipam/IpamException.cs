namespace Cni.Ipam;

/// <summary>Every failure of host-local IPAM. The plugin maps each subtype to a CNI error code.</summary>
public class IpamException : Exception
{
    public IpamException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The network configuration (or a request in it) is invalid: CNI code 7.</summary>
public sealed class IpamConfigException(string message, Exception? inner = null) : IpamException(message, inner);

/// <summary>No address could be handed out: a range set is full, or a requested address is taken or outside every range.</summary>
public sealed class AddressUnavailableException(string message) : IpamException(message);

/// <summary>The store's lock was not obtained before the deadline: CNI code 11 (try again later).</summary>
public sealed class StoreLockTimeoutException(string message) : IpamException(message);

/// <summary>The store could not be read or written: CNI code 5 (I/O failure).</summary>
public sealed class StoreIOException(string message, Exception? inner = null) : IpamException(message, inner);
