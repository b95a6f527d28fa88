// One txn from a fresh process with Cni.Etcd (JSON gateway, HTTP/1.1 over TLS with a client certificate):
//   EtcdProbeJson ENDPOINTS CA CERT KEY        (CERT and KEY "-": no client certificate)
// With PROBE_TRACE=1 it prints the time of each phase on stderr.
using System.Diagnostics;
using Cni.Etcd;

bool trace = Environment.GetEnvironmentVariable("PROBE_TRACE") == "1";
var sw = Stopwatch.StartNew();
var options = new EtcdOptions
{
    Endpoints = [.. args[0].Split(',').Select(e => new Uri(e))],
    CaFile = args[1],
    CertFile = args[2] == "-" ? null : args[2],
    KeyFile = args[3] == "-" ? null : args[3],
};
using var etcd = new EtcdClient(options);
if (trace) Console.Error.WriteLine($"client (certificates loaded): {sw.Elapsed.TotalMilliseconds:0.00} ms");
string key = "/probe/" + Environment.ProcessId;
var resp = etcd.Txn([Compare.Absent(key)], [Op.Put(key, "x"u8.ToArray())]);
if (trace) Console.Error.WriteLine($"first txn (connect, TLS, write): {sw.Elapsed.TotalMilliseconds:0.00} ms");
if (trace)
{
    etcd.Get(key);
    Console.Error.WriteLine($"a read on the same connection: {sw.Elapsed.TotalMilliseconds:0.00} ms");
    etcd.Txn([Compare.ModRevision(key, resp.Revision)], [Op.Put(key, "y"u8.ToArray())]);
    Console.Error.WriteLine($"a second write: {sw.Elapsed.TotalMilliseconds:0.00} ms");
}
Console.WriteLine($"succeeded={resp.Succeeded} revision={resp.Revision}");
return 0;
