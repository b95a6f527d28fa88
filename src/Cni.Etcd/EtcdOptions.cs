namespace Cni.Etcd;

/// <summary>Where etcd is and how to reach it.</summary>
public sealed class EtcdOptions
{
    /// <summary>Client URLs (https://host:2379 or http://host:2379), tried in order until one answers.</summary>
    public required IReadOnlyList<Uri> Endpoints { get; init; }
    /// <summary>PEM file of the CA that signed the members' server certificates; null: the system's trust store.</summary>
    public string? CaFile { get; init; }
    /// <summary>PEM client certificate and its key (PKCS#8, SEC1 or PKCS#1), both or neither.</summary>
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }
    /// <summary>etcd user (auth enabled); the password is read from <see cref="PasswordFile"/>, never from the config.</summary>
    public string? Username { get; init; }
    public string? PasswordFile { get; init; }
    /// <summary>The whole budget of one client call, across every endpoint tried.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// The string escaping of request bodies (null: .NET's default, whose static constructor costs a short-lived
    /// process more than a request; sharpcni's plugins pass their AsciiJsonEncoder, which writes the same bytes).
    /// </summary>
    public System.Text.Encodings.Web.JavaScriptEncoder? JsonEncoder { get; init; }
}
