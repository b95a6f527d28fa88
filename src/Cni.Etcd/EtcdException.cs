namespace Cni.Etcd;

/// <summary>
/// etcd answered with an error, or gave an answer this client cannot read. Messages never carry credentials
/// (no password, no token, no key material).
/// </summary>
public class EtcdException : Exception
{
    public EtcdException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>The gRPC status code etcd gave (0 when none).</summary>
    public int GrpcCode { get; init; }
}

/// <summary>
/// No endpoint could serve the request within the time allowed: members down, no quorum (no leader), the network
/// unreachable, or the request timed out. The caller may try again later; whether a write that timed out was
/// applied is unknown.
/// </summary>
public sealed class EtcdUnavailableException : EtcdException
{
    public EtcdUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The TLS or authentication set-up failed: a certificate that cannot be read, a server certificate that
/// does not chain to the configured CA, a client certificate etcd refuses, wrong user name or password.</summary>
public sealed class EtcdSecurityException : EtcdException
{
    public EtcdSecurityException(string message, Exception? inner = null) : base(message, inner) { }
}
