// One txn from a fresh process with dotnet-etcd (gRPC over TLS with a client certificate):
//   EtcdProbeGrpc ENDPOINTS CA CERT KEY
// What a cluster-ipam call would pay at least: start-up, one TLS connection, one txn (create-if-absent).
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

var ca = X509CertificateLoader.LoadCertificateFromFile(args[1]);
var client = X509Certificate2.CreateFromPemFile(args[2], args[3]);
var handler = new SocketsHttpHandler
{
    SslOptions = new SslClientAuthenticationOptions
    {
        ClientCertificates = [client],
        RemoteCertificateValidationCallback = (_, cert, _, errors) =>
        {
            if (cert is null) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(cert));
        },
    },
};
using var etcd = new EtcdClient(args[0], configureChannelOptions: o => { o.HttpHandler = handler; o.Credentials = Grpc.Core.ChannelCredentials.SecureSsl; });
var key = ByteString.CopyFromUtf8("/probe/" + Environment.ProcessId);
var txn = new TxnRequest();
txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8("x") } });
TxnResponse resp;
try { resp = etcd.Transaction(txn); }
catch (Exception e) { for (Exception? x = e; x is not null; x = x.InnerException) Console.Error.WriteLine($"{x.GetType().Name}: {x.Message}"); return 1; }
Console.WriteLine($"succeeded={resp.Succeeded} revision={resp.Header.Revision}");
return 0;
