// One txn from a fresh process with dotnet-etcd (gRPC over HTTP/2, TLS with a client certificate):
//   EtcdProbeGrpc ENDPOINTS CA CERT KEY
// The TLS set-up is the same as Cni.Etcd's (custom-root chain policy, the system trust store narrowed to the CA
// file), so the two probes differ in the client library only.
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

if (Environment.GetEnvironmentVariable("SHARPCNI_ETCD_SYSTEM_TRUST") != "1")
{
    Native.setenv("SSL_CERT_FILE", Path.GetFullPath(args[1]), 1);
    Native.setenv("SSL_CERT_DIR", "/nonexistent/sharpcni-etcd", 1);
}
var ca = X509CertificateLoader.LoadCertificateFromFile(args[1]);
var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
policy.CustomTrustStore.Add(ca);
var handler = new SocketsHttpHandler
{
    SslOptions = new SslClientAuthenticationOptions
    {
        ClientCertificates = [X509Certificate2.CreateFromPemFile(args[2], args[3])],
        CertificateChainPolicy = policy,
    },
};
using var etcd = new EtcdClient(args[0], configureChannelOptions: o => { o.HttpHandler = handler; o.Credentials = Grpc.Core.ChannelCredentials.SecureSsl; });
var key = ByteString.CopyFromUtf8("/probe/" + Environment.ProcessId);
var txn = new TxnRequest();
txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8("x") } });
var resp = etcd.Transaction(txn);
Console.WriteLine($"succeeded={resp.Succeeded} revision={resp.Header.Revision}");
return 0;

static partial class Native
{
    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int setenv(string name, string value, int overwrite);
}
