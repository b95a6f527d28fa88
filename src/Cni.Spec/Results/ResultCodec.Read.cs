using System.Text.Json;

namespace Cni.Spec;

// Reading the three result shapes from a JsonDocument by hand, field by field as the serializer read them:
// names are case-sensitive, unknown fields are ignored, a JSON null leaves a field null (also a string field
// that defaults to ""), null list items stay null, and a value of the wrong kind is a JsonException.
public static partial class ResultCodec
{
    /// <summary>The first top-level string <c>cniVersion</c> of a result, or null.</summary>
    private static string? VersionOf(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return null;
        foreach (var p in root.EnumerateObject())
        {
            if (JsonFields.Selects(p, "cniVersion") && p.Value.ValueKind == JsonValueKind.String)
                return JsonRead.String(p.Value, "$.cniVersion");
        }
        return null;
    }

    private static readonly JsonFields Result1xFields = new("cniVersion", "interfaces", "ips", "routes", "dns");

    private static Result Read1x(JsonElement obj, string path)
    {
        var r = new Result();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Result1xFields.Match(p, path))
            {
                case "cniVersion": r.CniVersion = JsonRead.String(v, path + ".cniVersion"); break;
                case "interfaces": r.Interfaces = ObjectList(v, path + ".interfaces", ReadInterface); break;
                case "ips": r.IPs = ObjectList(v, path + ".ips", ReadIPConfig); break;
                case "routes": r.Routes = ObjectList(v, path + ".routes", ReadRoute); break;
                case "dns": r.Dns = ReadDns(v, path + ".dns"); break;
            }
        }
        return r;
    }

    private static readonly JsonFields InterfaceFields = new("name", "mac", "mtu", "sandbox", "socketPath", "pciID");

    private static Interface ReadInterface(JsonElement obj, string path)
    {
        var i = new Interface();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (InterfaceFields.Match(p, path))
            {
                case "name": i.Name = JsonRead.String(v, path + ".name")!; break;
                case "mac": i.Mac = JsonRead.String(v, path + ".mac"); break;
                case "mtu": i.Mtu = JsonRead.NullableInt32(v, path + ".mtu"); break;
                case "sandbox": i.Sandbox = JsonRead.String(v, path + ".sandbox"); break;
                case "socketPath": i.SocketPath = JsonRead.String(v, path + ".socketPath"); break;
                case "pciID": i.PciID = JsonRead.String(v, path + ".pciID"); break;
            }
        }
        return i;
    }

    private static readonly JsonFields IPConfigFields = new("interface", "address", "gateway");

    private static IPConfig ReadIPConfig(JsonElement obj, string path)
    {
        var ip = new IPConfig();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (IPConfigFields.Match(p, path))
            {
                case "interface": ip.Interface = JsonRead.NullableInt32(v, path + ".interface"); break;
                case "address": ip.Address = JsonRead.String(v, path + ".address")!; break;
                case "gateway": ip.Gateway = JsonRead.String(v, path + ".gateway"); break;
            }
        }
        return ip;
    }

    private static readonly JsonFields RouteFields = new("dst", "gw", "mtu", "advmss", "priority", "table", "scope");

    private static Route ReadRoute(JsonElement obj, string path)
    {
        var rt = new Route();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (RouteFields.Match(p, path))
            {
                case "dst": rt.Dst = JsonRead.String(v, path + ".dst")!; break;
                case "gw": rt.Gw = JsonRead.String(v, path + ".gw"); break;
                case "mtu": rt.Mtu = JsonRead.NullableInt32(v, path + ".mtu"); break;
                case "advmss": rt.AdvMss = JsonRead.NullableInt32(v, path + ".advmss"); break;
                case "priority": rt.Priority = JsonRead.NullableInt32(v, path + ".priority"); break;
                case "table": rt.Table = JsonRead.NullableInt32(v, path + ".table"); break;
                case "scope": rt.Scope = JsonRead.NullableInt32(v, path + ".scope"); break;
            }
        }
        return rt;
    }

    /// <summary>
    /// A list of route objects as a result or an IPAM config writes them (dst, gw, mtu, advmss, priority, table,
    /// scope), or null for JSON null; a null item stays null. Values are not validated.
    /// </summary>
    public static List<Route?>? ReadRoutes(JsonElement e, string path) =>
        JsonRead.List(e, path, static (item, at) => JsonRead.Object(item, at) is { } obj ? ReadRoute(obj, at) : null);

    private static readonly JsonFields DnsFields = new("nameservers", "domain", "search", "options");

    /// <summary>The <c>dns</c> object of a result or a config, or null for JSON null.</summary>
    public static Dns? ReadDns(JsonElement e, string path)
    {
        if (JsonRead.Object(e, path) is not { } obj) return null;
        var dns = new Dns();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (DnsFields.Match(p, path))
            {
                case "nameservers": dns.Nameservers = JsonRead.NullableStringList(v, path + ".nameservers")!; break;
                case "domain": dns.Domain = JsonRead.String(v, path + ".domain"); break;
                case "search": dns.Search = JsonRead.NullableStringList(v, path + ".search")!; break;
                case "options": dns.Options = JsonRead.NullableStringList(v, path + ".options")!; break;
            }
        }
        return dns;
    }

    private static readonly JsonFields Result04xFields = new("cniVersion", "interfaces", "ips", "routes", "dns");

    private static Result04x Read04x(JsonElement obj, string path)
    {
        var r = new Result04x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Result04xFields.Match(p, path))
            {
                case "cniVersion": r.CniVersion = JsonRead.String(v, path + ".cniVersion"); break;
                case "interfaces": r.Interfaces = ObjectList(v, path + ".interfaces", ReadInterface04x); break;
                case "ips": r.IPs = ObjectList(v, path + ".ips", ReadIPConfig04x); break;
                case "routes": r.Routes = ObjectList(v, path + ".routes", ReadRoute04x); break;
                case "dns": r.Dns = ReadDns(v, path + ".dns"); break;
            }
        }
        return r;
    }

    private static readonly JsonFields Interface04xFields = new("name", "mac", "sandbox");

    private static Interface04x ReadInterface04x(JsonElement obj, string path)
    {
        var i = new Interface04x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Interface04xFields.Match(p, path))
            {
                case "name": i.Name = JsonRead.String(v, path + ".name")!; break;
                case "mac": i.Mac = JsonRead.String(v, path + ".mac"); break;
                case "sandbox": i.Sandbox = JsonRead.String(v, path + ".sandbox"); break;
            }
        }
        return i;
    }

    private static readonly JsonFields IPConfig04xFields = new("version", "interface", "address", "gateway");

    private static IPConfig04x ReadIPConfig04x(JsonElement obj, string path)
    {
        var ip = new IPConfig04x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (IPConfig04xFields.Match(p, path))
            {
                case "version": ip.Version = JsonRead.String(v, path + ".version")!; break;
                case "interface": ip.Interface = JsonRead.NullableInt32(v, path + ".interface"); break;
                case "address": ip.Address = JsonRead.String(v, path + ".address")!; break;
                case "gateway": ip.Gateway = JsonRead.String(v, path + ".gateway"); break;
            }
        }
        return ip;
    }

    private static readonly JsonFields Route04xFields = new("dst", "gw");

    private static Route04x ReadRoute04x(JsonElement obj, string path)
    {
        var rt = new Route04x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Route04xFields.Match(p, path))
            {
                case "dst": rt.Dst = JsonRead.String(v, path + ".dst")!; break;
                case "gw": rt.Gw = JsonRead.String(v, path + ".gw"); break;
            }
        }
        return rt;
    }

    private static readonly JsonFields Result02xFields = new("cniVersion", "ip4", "ip6", "dns");

    private static Result02x Read02x(JsonElement obj, string path)
    {
        var r = new Result02x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (Result02xFields.Match(p, path))
            {
                case "cniVersion": r.CniVersion = JsonRead.String(v, path + ".cniVersion"); break;
                case "ip4": r.IP4 = JsonRead.Object(v, path + ".ip4") is { } ip4 ? ReadIPConfig02x(ip4, path + ".ip4") : null; break;
                case "ip6": r.IP6 = JsonRead.Object(v, path + ".ip6") is { } ip6 ? ReadIPConfig02x(ip6, path + ".ip6") : null; break;
                case "dns": r.Dns = ReadDns(v, path + ".dns"); break;
            }
        }
        return r;
    }

    private static readonly JsonFields IPConfig02xFields = new("ip", "gateway", "routes");

    private static IPConfig02x ReadIPConfig02x(JsonElement obj, string path)
    {
        var ip = new IPConfig02x();
        foreach (var p in obj.EnumerateObject())
        {
            var v = p.Value;
            switch (IPConfig02xFields.Match(p, path))
            {
                case "ip": ip.IP = JsonRead.String(v, path + ".ip")!; break;
                case "gateway": ip.Gateway = JsonRead.String(v, path + ".gateway"); break;
                case "routes": ip.Routes = ObjectList(v, path + ".routes", ReadRoute04x); break;
            }
        }
        return ip;
    }

    /// <summary>A list of objects read with <paramref name="item"/>; null for JSON null, and a null item stays null.</summary>
    private static List<T>? ObjectList<T>(JsonElement e, string path, Func<JsonElement, string, T> item) where T : class =>
        JsonRead.List(e, path, (x, p) => JsonRead.Object(x, p) is { } obj ? item(obj, p) : null!);
}
