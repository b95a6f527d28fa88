using System.Runtime.InteropServices;

namespace Cni.Etcd;

/// <summary>
/// Keeps .NET from loading the machine's whole trust store in a process that talks to etcd only. With a client
/// certificate, SslStream builds that certificate's chain (SslStreamCertificateContext) with the system trust,
/// and the first use of the system trust reads and parses every file of /etc/ssl/certs (~150 certificates; with
/// OpenSSL 3 that was most of a plugin process's CPU, 40 of ~70 ms). The server's certificate is checked against
/// the configured CA alone (a custom-root chain policy), so the system store is never needed: before the first TLS
/// use, SSL_CERT_FILE and SSL_CERT_DIR (which .NET's OpenSSL layer reads with getenv) point at the CA file and at
/// no directory. A short-lived plugin process is single-threaded at that point.
/// </summary>
internal static partial class TrustStore
{
    private static bool s_done;

    public static void Narrow(string caFile)
    {
        if (s_done || Environment.GetEnvironmentVariable("SHARPCNI_ETCD_SYSTEM_TRUST") == "1") return;
        s_done = true;
        setenv("SSL_CERT_FILE", Path.GetFullPath(caFile), 1);
        setenv("SSL_CERT_DIR", "/nonexistent/sharpcni-etcd", 1);
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
