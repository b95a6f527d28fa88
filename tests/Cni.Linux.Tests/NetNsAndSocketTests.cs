using System.Buffers.Binary;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using static Cni.Linux.Netlink.NetlinkConstants;

namespace Cni.Linux.Tests;

public sealed class NetNsAndSocketTests : IDisposable
{
    private readonly TestNamespace _ns = new();

    public void Dispose() => _ns.Dispose();

    private static string CurrentThreadNamespace() => new FileInfo("/proc/thread-self/ns/net").LinkTarget!;

    [Fact]
    public void Open_missing_namespace_throws_distinguishable_not_found()
    {
        var e = Assert.Throws<NamespaceNotFoundException>(() => NetNs.Open("/var/run/netns/cnitest-does-not-exist"));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.True(e.IsNotFound);
        Assert.Contains("ENOENT", e.Message);
    }

    [Fact]
    public void Only_network_namespace_files_open_as_one()
    {
        string dir = Path.Combine(Path.GetTempPath(), "netns-open-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string file = Path.Combine(dir, "regular");
            File.WriteAllText(file, "x");
            string fifo = Path.Combine(dir, "fifo");
            using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo)!)
            {
                mkfifo.WaitForExit();
                Assert.Equal(0, mkfifo.ExitCode);
            }
            foreach (string path in new[] { file, dir, fifo, "/proc/self/ns/mnt", "/proc/self/ns/uts" })
            {
                if (!Path.Exists(path)) continue;
                var e = Assert.Throws<LinuxException>(() => NetNs.Open(path));
                Assert.Equal(Errno.EINVAL, e.Errno);
                Assert.Contains("not a", e.Message);
            }
            using var own = NetNs.Open("/proc/self/ns/net");
            Assert.False(own.IsInvalid);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Named_namespace_names_are_validated()
    {
        Assert.Throws<ArgumentException>(() => NetNs.PathOfNamed("../etc"));
        Assert.Throws<ArgumentException>(() => NetNs.PathOfNamed(".."));
        Assert.Throws<ArgumentException>(() => NetNs.Open("relative/path"));
    }

    [Fact]
    public void Run_executes_inside_the_namespace_and_leaves_the_caller_where_it_was()
    {
        string expected = _ns.Exec("readlink", "/proc/self/ns/net").Trim();
        string before = CurrentThreadNamespace();
        using NetNs ns = _ns.Open();
        (string inside, int threadId) = ns.Run(() => (CurrentThreadNamespace(), Environment.CurrentManagedThreadId));
        Assert.Equal(expected, inside);
        Assert.Equal(Environment.CurrentManagedThreadId, threadId); // on the calling thread, which returns to its namespace
        Assert.Equal(before, CurrentThreadNamespace());
        Assert.NotEqual(before, inside);
    }

    [Fact]
    public void Run_rethrows_the_exception_of_the_action()
    {
        using NetNs ns = _ns.Open();
        Assert.Throws<InvalidTimeZoneException>(() => ns.Run(() => throw new InvalidTimeZoneException("boom")));
    }

    [Fact]
    public void Socket_opened_in_namespace_dumps_that_namespaces_links()
    {
        _ns.Exec("ip", "link", "add", "probe0", "type", "bridge");
        using NetNs ns = _ns.Open();
        using NetlinkSocket socket = NetlinkSocket.OpenIn(ns, NetlinkProtocol.Route);
        Assert.NotEqual(0u, socket.PortId);

        var names = new List<string>();
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(18 /* RTM_GETLINK */, NLM_F_REQUEST | NLM_F_DUMP);
            writer.Reserve(16); // ifinfomsg
            socket.Dump(ref writer, message =>
            {
                foreach (NetlinkAttribute attribute in message.Attributes(16))
                {
                    if (attribute.Type == 3 /* IFLA_IFNAME */)
                    {
                        names.Add(attribute.String);
                    }
                }
            });
        }
        finally
        {
            writer.Dispose();
        }
        Assert.Equal(["lo", "probe0"], names.Order().ToArray());
    }

    [Fact]
    public void Kernel_refusal_carries_errno_and_extended_ack_text()
    {
        using NetNs ns = _ns.Open();
        using NetlinkSocket socket = NetlinkSocket.OpenIn(ns, NetlinkProtocol.Route);
        var writer = new NetlinkWriter();
        try
        {
            writer.BeginMessage(16 /* RTM_NEWLINK */, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
            writer.Reserve(16);
            writer.AttributeString(3, "x0");
            using (writer.Nest(18 /* IFLA_LINKINFO */))
            {
                writer.AttributeString(1 /* IFLA_INFO_KIND */, "nosuchkind");
            }
            // A second failing request in the same batch must not hang the exchange.
            writer.BeginMessage(17 /* RTM_DELLINK */, NLM_F_REQUEST | NLM_F_ACK);
            Span<byte> ifinfo = writer.Reserve(16);
            BinaryPrimitives.WriteInt32LittleEndian(ifinfo.Slice(4), 999_999);

            bool ok = socket.TryRequest(ref writer, out NetlinkException? error, operation: "create link x0");
            Assert.False(ok);
            Assert.NotNull(error);
            Assert.Equal(Errno.EOPNOTSUPP, error!.Errno);
            Assert.Contains("Unknown device type", error.KernelMessage);
            Assert.Contains("create link x0", error.Message);
            Assert.False(string.IsNullOrEmpty(error.KernelMessage));

            // The socket stays usable: the next request gets its own reply.
            writer.Reset();
            writer.BeginMessage(17, NLM_F_REQUEST | NLM_F_ACK);
            ifinfo = writer.Reserve(16);
            BinaryPrimitives.WriteInt32LittleEndian(ifinfo.Slice(4), 999_998);
            Errno? errno = null;
            try
            {
                socket.Request(ref writer);
            }
            catch (NetlinkException e)
            {
                errno = e.Errno;
            }
            Assert.Equal(Errno.ENODEV, errno);
        }
        finally
        {
            writer.Dispose();
        }
    }
}
