using Cni.Linux.Namespaces;
using Cni.Linux.Route;

namespace Cni.Linux.Tests;

/// <summary>Two throwaway namespaces, "host" and "container", each with an open RouteSocket.</summary>
public abstract class NamespacePair : IDisposable
{
    protected NamespacePair()
    {
        HostNs = new TestNamespace();
        ContainerNs = new TestNamespace();
        Host = HostNs.Open();
        Container = ContainerNs.Open();
        HostRoutes = RouteSocket.OpenIn(Host);
        ContainerRoutes = RouteSocket.OpenIn(Container);
    }

    protected TestNamespace HostNs { get; }
    protected TestNamespace ContainerNs { get; }
    protected NetNs Host { get; }
    protected NetNs Container { get; }
    protected RouteSocket HostRoutes { get; }
    protected RouteSocket ContainerRoutes { get; }

    public void Dispose()
    {
        HostRoutes.Dispose();
        ContainerRoutes.Dispose();
        Host.Dispose();
        Container.Dispose();
        HostNs.Dispose();
        ContainerNs.Dispose();
        GC.SuppressFinalize(this);
    }
}
