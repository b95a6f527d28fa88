using System.Text;
using Cni.Ipam;
using Cni.Ipam.Disk;

namespace Cni.Ipam.Tests;

/// <summary>A data dir in /tmp for one test, removed afterwards.</summary>
internal sealed class TempStore : IDisposable
{
    public string DataDir { get; } = Directory.CreateTempSubdirectory("ipam-store").FullName;
    public string NetDir => Path.Combine(DataDir, "net1");

    public string ConfigJson(string ranges, string extraIpam = "") =>
        "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"type\":\"bridge\",\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"" + DataDir +
        "\"" + extraIpam + ",\"ranges\":[" + ranges + "]}}";

    public IpamConfig Config(string ranges, string extraIpam = "", string? cniArgs = null) =>
        IpamConfig.Parse(Encoding.UTF8.GetBytes(ConfigJson(ranges, extraIpam)), cniArgs);

    public HostLocalIpam Ipam(string ranges, string extraIpam = "", string? cniArgs = null) =>
        HostLocalIpam.OnDisk(Config(ranges, extraIpam, cniArgs));

    public DiskReservationStore Store(TimeSpan? timeout = null) => new(DataDir, "net1", timeout);

    public byte[] Bytes(string name) => File.ReadAllBytes(Path.Combine(NetDir, name));

    public string[] Names() => Directory.GetFiles(NetDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(DataDir, true); } catch (IOException) { }
    }
}
