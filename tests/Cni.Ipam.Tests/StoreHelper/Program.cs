using System.Text;
using Cni.Ipam;

// usage: StoreHelper <networkConfigJson> <idPrefix> <count|loop>
//   count: ADD <count> attachments <idPrefix>-<i>, print each address on its own line.
//   loop:  ADD then DEL attachments forever (until killed), printing "ready" once the first ADD made the store.
var config = IpamConfig.Parse(Encoding.UTF8.GetBytes(args[0]));
var ipam = HostLocalIpam.OnDisk(config);
string prefix = args[1];
if (args[2] == "loop")
{
    for (long i = 0; ; i++)
    {
        if (i == 1)
        {
            // Only now: a kill right after "ready" must find a store to check (on a loaded machine the first ADD,
            // which creates the network's directory, can take longer than the test waits).
            Console.Out.WriteLine("ready");
            Console.Out.Flush();
        }
        var req = new IpamRequest($"{prefix}-{i % 50}", "eth0");
        try
        {
            if (i % 3 == 2) ipam.Del(req);
            else ipam.Add(req);
        }
        catch (Exception e) when (e is AddressUnavailableException or StoreLockTimeoutException)
        {
            // A range filled by the killed helpers before this one: keep going, its DELs free addresses.
        }
    }
}
int count = int.Parse(args[2]);
var sb = new StringBuilder();
for (int i = 0; i < count; i++)
{
    var a = ipam.Add(new IpamRequest($"{prefix}-{i}", "eth0"));
    foreach (var addr in a.Addresses) sb.Append(IPAddressMath.Format(addr.Address.Address)).Append('\n');
}
Console.Out.Write(sb.ToString());
return 0;
