// One txn from a fresh process with Cni.Etcd (JSON gateway, HTTP/1.1 over TLS with a client certificate):
//   EtcdProbeJson ENDPOINTS CA CERT KEY
using Cni.Etcd;

var options = new EtcdOptions
{
    Endpoints = [.. args[0].Split(',').Select(e => new Uri(e))],
    CaFile = args[1],
    CertFile = args[2],
    KeyFile = args[3],
};
using var etcd = new EtcdClient(options);
string key = "/probe/" + Environment.ProcessId;
var resp = etcd.Txn([Compare.Absent(key)], [Op.Put(key, "x"u8.ToArray())]);
Console.WriteLine($"succeeded={resp.Succeeded} revision={resp.Revision}");
return 0;
