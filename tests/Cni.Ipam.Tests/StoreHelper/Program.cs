using System.Text;
using Cni.Ipam;

// usage: StoreHelper <networkConfigJson> <idPrefix> <count|loop>
//   count: ADD <count> attachments <idPrefix>-<i>, print each address on its own line.
//   loop:  ADD then DEL attachments forever (until killed), printing "ready" once started.
var config = IpamConfig.Parse(Encoding.UTF8.GetBytes(args[0]));
var ipam = HostLocalIpam.OnDisk(config);
string prefix = args[1];
if (args[2] == "loop")
{
    Console.Out.WriteLine("ready");
    Console.Out.Flush();
    for (long i = 0; ; i++)
    {
        var req = new IpamRequest($"{prefix}-{i % 50}", "eth0");
        if (i % 3 == 2) ipam.Del(req);
        else ipam.Add(req);
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
