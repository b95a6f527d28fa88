using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Cni.Cri.V1;

namespace Cni.Cri;

/// <summary>
/// A gRPC channel to a CRI runtime's unix socket: HTTP/2 without TLS, every connection made by a
/// <see cref="SocketsHttpHandler.ConnectCallback"/> to the socket path (the URI's host is only a name).
/// One channel multiplexes every call, as kubelet's client does.
/// </summary>
public sealed class CriConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    /// <summary>Seconds each call may take before its deadline cancels it.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(120);

    public CriConnection(string endpoint)
    {
        string path = SocketPath(endpoint);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            // gRPC keeps one long-lived HTTP/2 connection; a burst's calls are streams on it.
            EnableMultipleHttp2Connections = true,
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
        });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    /// <summary>A call's options: its deadline.</summary>
    public CallOptions Call() => new(deadline: DateTime.UtcNow + CallTimeout);

    /// <summary>"unix:///run/x.sock", "unix:/run/x.sock" or a plain path.</summary>
    public static string SocketPath(string endpoint)
    {
        if (endpoint.StartsWith("unix://", StringComparison.Ordinal)) return endpoint["unix://".Length..];
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal)) return endpoint["unix:".Length..];
        if (endpoint.Contains("://", StringComparison.Ordinal))
            throw new ArgumentException($"only unix:// endpoints are supported: {endpoint}");
        return endpoint;
    }

    public void Dispose() => _channel.Dispose();
}
