using System.Net.NetworkInformation;
using Cni.Linux.Interop;
using Cni.Linux.Namespaces;
using Cni.Linux.Netlink;
using Cni.Linux.Route;
using Cni.Spec;

namespace Cni.Plugins.Tuning;

/// <summary>
/// The tuning meta plugin: sets sysctls inside the container's network namespace (through /proc/sys, on a thread that
/// enters it) and the container interface's MAC, MTU, promiscuous and all-multicast modes and transmit queue length
/// (over rtnetlink from a socket opened in the namespace). The values it changes are saved first
/// (<see cref="TuningBackup"/>) and restored by DEL, or at once when ADD fails. It creates nothing; it needs
/// prevResult and passes it on, with the new MAC in the interface's entry.
/// </summary>
public sealed class TuningPlugin : CniPlugin
{
    private readonly string _allowlist;

    public TuningPlugin() : this(TuningOptions.DefaultAllowlist) { }

    /// <param name="allowlist">The sysctl allow-list file; only tests pass another one.</param>
    public TuningPlugin(string allowlist) => _allowlist = allowlist;

    public override string Name => "tuning";

    /// <summary>Test hook: called at named points of ADD ("after-setup") so tests can force a late failure.</summary>
    internal Action<string>? FaultPoint { get; set; }

    private TuningOptions OptionsOf(CniRequest request) =>
        TuningOptions.From(TuningConfig.Parse(request.StdinData), request.Args, request.IfName, _allowlist);

    public override Result Add(CniRequest request)
    {
        var o = OptionsOf(request);
        var prev = request.PrevResult
            ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        var tag = new Attachment(request.ContainerId, request.IfName);

        using var netns = ContainerNamespace.Open(request.Netns);
        using var container = RouteSocket.OpenIn(netns);
        var link = container.GetLink(request.IfName)
            ?? throw new CniException(ErrorCode.FirstPluginCode, $"failed to get \"{request.IfName}\": no such interface in {request.Netns}");

        // What is about to change, as it is now.
        var backup = new TuningBackup();
        if (o.Sysctls.Count > 0)
            backup.Sysctl = ReadSysctls(netns, o.Sysctls.Select(s => s.Path));
        if (o.Mac is not null) backup.Mac = Format(link);
        if (o.Promisc) backup.Promisc = (link.Flags & RouteSocket.IFF_PROMISC) != 0;
        if (o.Mtu != 0) backup.Mtu = link.Mtu;
        if (o.Allmulti is not null) backup.Allmulti = (link.Flags & RouteSocket.IFF_ALLMULTI) != 0;
        if (o.TxQLen is not null) backup.TxQLen = link.TxQueueLength;

        string file = TuningBackup.PathOf(o.DataDir, tag);
        using var rollback = new Rollback();
        if (!backup.IsEmpty)
        {
            // Registered before the save: a save that fails half-way leaves no file. The file goes only once the
            // values are back; a restore that fails keeps it, for the runtime's DEL to finish the job.
            rollback.Add("restore the previous values, then delete the saved ones", () =>
            {
                Restore(netns, container, request.IfName, backup);
                File.Delete(file);
            });
            backup.Save(file);
        }

        if (o.Sysctls.Count > 0)
        {
            netns.Run(() =>
            {
                foreach (var s in o.Sysctls)
                {
                    try
                    {
                        Cni.Linux.Sysctl.Write(s.Path, s.Value);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
                    {
                        throw new CniException(ErrorCode.FirstPluginCode, $"failed to set sysctl {s.Key} ({Cni.Linux.Sysctl.Root}{s.Path}) to \"{s.Value}\": {e.Message}");
                    }
                }
            });
        }

        Apply(() =>
        {
            if (o.Mac is { } mac) container.SetLinkAddress(link.Index, new PhysicalAddress(mac.ToBytes()));
        }, $"failed to set MAC address {o.Mac} on {request.IfName}");
        Apply(() => { if (o.Promisc) container.SetLinkPromiscuous(link.Index, true); }, $"failed to set {request.IfName} promiscuous");
        Apply(() => { if (o.Mtu != 0) container.SetLinkMtu(link.Index, o.Mtu); }, $"failed to set MTU {o.Mtu} on {request.IfName}");
        Apply(() => { if (o.Allmulti is { } on) container.SetLinkAllMulticast(link.Index, on); }, $"failed to set all-multicast mode on {request.IfName}");
        Apply(() => { if (o.TxQLen is { } q) container.SetLinkTxQueueLength(link.Index, q); }, $"failed to set txQLen {o.TxQLen} on {request.IfName}");

        FaultPoint?.Invoke("after-setup");

        if (o.Mac is { } newMac)
        {
            foreach (var i in prev.Interfaces ?? [])
                if (i.Name == request.IfName) i.Mac = newMac.ToString();
        }
        rollback.Commit();
        return prev;
    }

    /// <summary>
    /// DEL: restores what ADD saved (sysctls, MAC, MTU, promiscuous and all-multicast modes, txQLen) and deletes the
    /// file. Idempotent: no file, no namespace or no interface leaves nothing to restore. A value that cannot be restored
    /// is reported, after the others were tried, and the file is kept so that a repeated DEL restores it.
    /// </summary>
    public override void Del(CniRequest request)
    {
        var c = TuningConfig.Parse(request.StdinData);
        string dataDir = string.IsNullOrEmpty(c.DataDir) ? TuningOptions.DefaultDataDir : c.DataDir;
        string file = TuningBackup.PathOf(dataDir, new Attachment(request.ContainerId, request.IfName));

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Nothing was saved, or a DEL before this one restored it; or an ADD was killed while it saved, before
            // it changed anything, and left its temporary file (found by killing each system call of ADD in turn).
            DeleteTemporary(file);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(ErrorCode.IOFailure, $"failed to read the saved values {file}: {e.Message}");
        }

        var failures = new DelFailures();
        if (TuningBackup.Parse(bytes) is { } backup)
        {
            failures.Try("restore the previous values", () =>
            {
                using var netns = ContainerNamespace.TryOpen(request.Netns);
                if (netns is null) return; // the namespace is gone and the interface with it (or back in its own)
                using var container = RouteSocket.OpenIn(netns);
                Restore(netns, container, request.IfName, backup);
            });
        }
        // The file goes only when the values are back: a DEL that failed to restore them fails, and the runtime's
        // next DEL finds the file and tries again (found by failing each system call of DEL in turn).
        if (!failures.Any) failures.Try($"delete {file}", () => File.Delete(file));
        if (!failures.Any) failures.Try($"delete {TuningBackup.TempPathOf(file)}", () => DeleteTemporary(file));
        failures.ThrowIfAny();
    }

    private static void DeleteTemporary(string file)
    {
        try
        {
            File.Delete(TuningBackup.TempPathOf(file));
        }
        catch (DirectoryNotFoundException)
        {
            // no data directory: no file
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(ErrorCode.IOFailure, $"failed to delete {TuningBackup.TempPathOf(file)}: {e.Message}");
        }
    }

    /// <summary>
    /// CHECK: every configured sysctl has its value in the container, and the interface has the configured MAC, MTU,
    /// all-multicast mode and txQLen, and is promiscuous exactly when <c>promisc</c> is set (as the reference checks).
    /// </summary>
    public override void Check(CniRequest request)
    {
        var o = OptionsOf(request);
        _ = request.PrevResult ?? throw new CniException(ErrorCode.InvalidNetworkConfig, "Required prevResult missing");
        using var netns = ContainerNamespace.Open(request.Netns);
        using var container = RouteSocket.OpenIn(netns);

        if (o.Sysctls.Count > 0)
        {
            var now = ReadSysctls(netns, o.Sysctls.Select(s => s.Path));
            foreach (var s in o.Sysctls)
            {
                string current = now.First(kv => kv.Key == s.Path).Value;
                if (current != s.Value)
                    throw Failed($"Error: Tuning configured value of {Cni.Linux.Sysctl.Root}{s.Path} is {s.Value}, current value is {current}");
            }
        }

        var link = container.GetLink(request.IfName) ?? throw Failed($"Cannot find container link {request.IfName}");
        if (o.Mac is { } mac && Format(link) != mac.ToString())
            throw Failed($"Error: Tuning configured Ethernet of {request.IfName} is {mac}, current value is {Format(link)}");
        bool promisc = (link.Flags & RouteSocket.IFF_PROMISC) != 0;
        if (promisc != o.Promisc)
            throw Failed($"Error: Tuning link {request.IfName} configured promisc is {o.Promisc}, current value is {promisc}");
        if (o.Mtu != 0 && link.Mtu != o.Mtu)
            throw Failed($"Error: Tuning configured MTU of {request.IfName} is {o.Mtu}, current value is {link.Mtu}");
        bool allmulti = (link.Flags & RouteSocket.IFF_ALLMULTI) != 0;
        if (o.Allmulti is { } wantAllmulti && allmulti != wantAllmulti)
            throw Failed($"Error: Tuning configured all-multicast mode of {request.IfName} is {wantAllmulti}, current value is {allmulti}");
        if (o.TxQLen is { } q && link.TxQueueLength != q)
            throw Failed($"Error: Tuning configured Transmit Queue Length of {request.IfName} is {q}, current value is {link.TxQueueLength}");
    }

    /// <summary>Puts saved values back, each on its own; the failures are reported together.</summary>
    private static void Restore(NetNs netns, RouteSocket container, string ifName, TuningBackup backup)
    {
        var failures = new DelFailures();
        if (backup.Sysctl.Count > 0)
        {
            failures.Try("restore sysctls", () => netns.Run(() =>
            {
                var errors = new List<string>();
                foreach (var (path, value) in backup.Sysctl)
                {
                    try
                    {
                        Cni.Linux.Sysctl.Write(path, value);
                    }
                    catch (ArgumentException)
                    {
                        errors.Add($"{path}: not a net sysctl");
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
                    {
                        // a per-interface key of an interface that left the namespace: nothing to restore
                        if (e is not LinuxException { Errno: Errno.ENOENT }) errors.Add($"{path}: {e.Message}");
                    }
                }
                if (errors.Count > 0) throw new CniException(ErrorCode.FirstPluginCode, string.Join("; ", errors));
            }));
        }

        if (container.GetLink(ifName) is { } link)
        {
            int index = link.Index;
            if (backup.Mtu != 0) failures.Try("restore MTU", () => container.SetLinkMtu(index, backup.Mtu));
            if (backup.Mac is { } mac)
            {
                failures.Try("restore MAC address", () =>
                {
                    if (!HardwareAddress.TryParse(mac, out var m)) throw new CniException(ErrorCode.FirstPluginCode, $"saved MAC \"{mac}\" is not a MAC address");
                    container.SetLinkAddress(index, new PhysicalAddress(m.ToBytes()));
                });
            }
            if (backup.Promisc is { } promisc) failures.Try("restore promiscuous mode", () => container.SetLinkPromiscuous(index, promisc));
            if (backup.Allmulti is { } allmulti) failures.Try("restore all-multicast mode", () => container.SetLinkAllMulticast(index, allmulti));
            if (backup.TxQLen is { } q) failures.Try("restore transmit queue length", () => container.SetLinkTxQueueLength(index, q));
        }
        failures.ThrowIfAny();
    }

    private static List<KeyValuePair<string, string>> ReadSysctls(NetNs netns, IEnumerable<string> paths) => netns.Run(() =>
    {
        var values = new List<KeyValuePair<string, string>>();
        foreach (string path in paths)
        {
            if (values.Any(kv => kv.Key == path)) continue;
            try
            {
                values.Add(new(path, Cni.Linux.Sysctl.Read(path)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
            {
                throw new CniException(ErrorCode.FirstPluginCode, $"failed to read sysctl {Cni.Linux.Sysctl.Root}{path}: {e.Message}");
            }
        }
        return values;
    });

    private static void Apply(Action change, string what)
    {
        try
        {
            change();
        }
        catch (NetlinkException e)
        {
            throw new CniException(ErrorCode.FirstPluginCode, $"{what}: {e.Message}");
        }
    }

    private static string? Format(Link link) =>
        link.Address is { } a && a.GetAddressBytes().Length == 6 ? HardwareAddress.FromBytes(a.GetAddressBytes()).ToString() : null;

    private static CniException Failed(string msg) => new(ErrorCode.FirstPluginCode, msg);
}
