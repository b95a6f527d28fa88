using System.Buffers;
using System.Text.Json;

namespace Cni.Spec;

// Writing the three result shapes with a Utf8JsonWriter, byte for byte as the serializer wrote them: fields in
// declaration order, a null field left out (an empty list is still written), null list items as null,
// indented by four, escaped by AsciiJsonEncoder (the same bytes as the serializer's default encoder).
public static partial class ResultCodec
{
    private static byte[] Write<T>(T value, Action<Utf8JsonWriter, T> write)
    {
        var buffer = new ArrayBufferWriter<byte>(2048);
        using (var json = new Utf8JsonWriter(buffer, JsonOutput.WriterOptions))
        {
            write(json, value);
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void Write1x(Utf8JsonWriter w, Result r)
    {
        w.WriteStartObject();
        WriteField(w, "cniVersion"u8, r.CniVersion);
        WriteList(w, "interfaces"u8, r.Interfaces, static (w, i) =>
        {
            w.WriteStartObject();
            WriteField(w, "name"u8, i.Name);
            WriteField(w, "mac"u8, i.Mac);
            WriteField(w, "mtu"u8, i.Mtu);
            WriteField(w, "sandbox"u8, i.Sandbox);
            WriteField(w, "socketPath"u8, i.SocketPath);
            WriteField(w, "pciID"u8, i.PciID);
            w.WriteEndObject();
        });
        WriteList(w, "ips"u8, r.IPs, static (w, ip) =>
        {
            w.WriteStartObject();
            WriteField(w, "interface"u8, ip.Interface);
            WriteField(w, "address"u8, ip.Address);
            WriteField(w, "gateway"u8, ip.Gateway);
            w.WriteEndObject();
        });
        WriteList(w, "routes"u8, r.Routes, static (w, rt) =>
        {
            w.WriteStartObject();
            WriteField(w, "dst"u8, rt.Dst);
            WriteField(w, "gw"u8, rt.Gw);
            WriteField(w, "mtu"u8, rt.Mtu);
            WriteField(w, "advmss"u8, rt.AdvMss);
            WriteField(w, "priority"u8, rt.Priority);
            WriteField(w, "table"u8, rt.Table);
            WriteField(w, "scope"u8, rt.Scope);
            w.WriteEndObject();
        });
        WriteDns(w, r.Dns);
        w.WriteEndObject();
    }

    private static void Write04x(Utf8JsonWriter w, Result04x r)
    {
        w.WriteStartObject();
        WriteField(w, "cniVersion"u8, r.CniVersion);
        WriteList(w, "interfaces"u8, r.Interfaces, static (w, i) =>
        {
            w.WriteStartObject();
            WriteField(w, "name"u8, i.Name);
            WriteField(w, "mac"u8, i.Mac);
            WriteField(w, "sandbox"u8, i.Sandbox);
            w.WriteEndObject();
        });
        WriteList(w, "ips"u8, r.IPs, static (w, ip) =>
        {
            w.WriteStartObject();
            WriteField(w, "version"u8, ip.Version);
            WriteField(w, "interface"u8, ip.Interface);
            WriteField(w, "address"u8, ip.Address);
            WriteField(w, "gateway"u8, ip.Gateway);
            w.WriteEndObject();
        });
        WriteList(w, "routes"u8, r.Routes, WriteRoute04x);
        WriteDns(w, r.Dns);
        w.WriteEndObject();
    }

    private static void Write02x(Utf8JsonWriter w, Result02x r)
    {
        w.WriteStartObject();
        WriteField(w, "cniVersion"u8, r.CniVersion);
        WriteIPConfig02x(w, "ip4"u8, r.IP4);
        WriteIPConfig02x(w, "ip6"u8, r.IP6);
        WriteDns(w, r.Dns);
        w.WriteEndObject();
    }

    private static void WriteIPConfig02x(Utf8JsonWriter w, ReadOnlySpan<byte> name, IPConfig02x? ip)
    {
        if (ip is null) return;
        w.WriteStartObject(name);
        WriteField(w, "ip"u8, ip.IP);
        WriteField(w, "gateway"u8, ip.Gateway);
        WriteList(w, "routes"u8, ip.Routes, WriteRoute04x);
        w.WriteEndObject();
    }

    private static void WriteRoute04x(Utf8JsonWriter w, Route04x rt)
    {
        w.WriteStartObject();
        WriteField(w, "dst"u8, rt.Dst);
        WriteField(w, "gw"u8, rt.Gw);
        w.WriteEndObject();
    }

    private static void WriteDns(Utf8JsonWriter w, Dns? dns)
    {
        if (dns is null) return;
        w.WriteStartObject("dns"u8);
        WriteStrings(w, "nameservers"u8, dns.Nameservers);
        WriteField(w, "domain"u8, dns.Domain);
        WriteStrings(w, "search"u8, dns.Search);
        WriteStrings(w, "options"u8, dns.Options);
        w.WriteEndObject();
    }

    private static void WriteField(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is not null) w.WriteString(name, value);
    }

    private static void WriteField(Utf8JsonWriter w, ReadOnlySpan<byte> name, int? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
    }

    private static void WriteList<T>(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<T>? list, Action<Utf8JsonWriter, T> item) where T : class
    {
        if (list is null) return;
        w.WriteStartArray(name);
        foreach (var x in list)
        {
            if (x is null) w.WriteNullValue();
            else item(w, x);
        }
        w.WriteEndArray();
    }

    private static void WriteStrings(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<string>? list)
    {
        if (list is null) return;
        w.WriteStartArray(name);
        foreach (string? s in list)
        {
            if (s is null) w.WriteNullValue();
            else w.WriteStringValue(s);
        }
        w.WriteEndArray();
    }
}
