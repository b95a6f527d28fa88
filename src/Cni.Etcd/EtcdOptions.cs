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
    /// <summary>
    /// sharpcni-agent's etcd relay (a Unix socket; null: none). When an agent listens there and serves this same etcd
    /// identity (<see cref="Identity"/>), requests go through it and its kept-alive TLS connections; otherwise, and when
    /// the agent fails mid-call, straight to the endpoints.
    /// </summary>
    public string? AgentSocket { get; init; }
    /// <summary>The whole budget of one client call, across every endpoint tried.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// The string escaping of request bodies (null: .NET's default, whose static constructor costs a short-lived
    /// process more than a request; sharpcni's plugins pass their AsciiJsonEncoder, which writes the same bytes).
    /// </summary>
    public System.Text.Encodings.Web.JavaScriptEncoder? JsonEncoder { get; init; }

    /// <summary>
    /// Who this client is to etcd, as one string: the endpoints (sorted: their order only sets a preference) and the
    /// files of its credentials. A relay serves a request only for an identity it was configured with, so a request
    /// through it reaches etcd with the same certificate and user as it would have directly.
    /// </summary>
    public string Identity
    {
        get
        {
            var endpoints = new List<string>(Endpoints.Count);
            foreach (var e in Endpoints) endpoints.Add(e.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped));
            endpoints.Sort(StringComparer.Ordinal);
            return string.Join("\n", [string.Join(",", endpoints), CaFile ?? "", CertFile ?? "", KeyFile ?? "", Username ?? "", PasswordFile ?? ""]);
        }
    }
}
