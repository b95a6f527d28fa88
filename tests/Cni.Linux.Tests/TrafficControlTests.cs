using Cni.Linux.Netlink;
using Cni.Linux.Tc;

namespace Cni.Linux.Tests;

/// <summary>
/// The traffic-control messages byte by byte, against the kernel's struct layouts (linux/rtnetlink.h, pkt_sched.h,
/// pkt_cls.h, tc_act/tc_mirred.h), written out field by field below. Sequence and port are stamped at send time (zero here).
/// </summary>
public class TrafficControlTests
{
    /// <summary>Hex bytes, one group per line; a line's text after '|' is a comment.</summary>
    private static byte[] Bytes(string hex) => Convert.FromHexString(string.Concat(
        hex.Split('\n').Select(line => line.Split('|')[0]).SelectMany(part => part.Where(char.IsAsciiHexDigit))));

    private delegate void Build(ref NetlinkWriter writer);

    private static byte[] Encode(Build build)
    {
        var writer = new NetlinkWriter();
        try
        {
            build(ref writer);
            return writer.WrittenSpan.ToArray();
        }
        finally
        {
            writer.Dispose();
        }
    }

    [Fact]
    public void Tbf_qdisc_add()
    {
        byte[] actual = Encode((ref NetlinkWriter w) =>
            TrafficControl.WriteAddTbf(ref w, 7, TrafficControl.TC_H_ROOT, TrafficControl.MakeHandle(1, 0), new TbfParameters(125000, 13125, 1250000)));
        byte[] expected = Bytes("""
            58000000 2400 0506 00000000 00000000   | nlmsghdr: len 88, RTM_NEWQDISC, REQUEST|ACK|EXCL|CREATE
            00 00 0000 07000000 00000100 ffffffff 00000000  | tcmsg: AF_UNSPEC, ifindex 7, handle 1:0, parent root, info 0
            0800 0100 74626600   | TCA_KIND "tbf"
            2c00 0200   | TCA_OPTIONS (no NLA_F_NESTED, as tc sends it)
              2800 0100   | TCA_TBF_PARMS, struct tc_tbf_qopt:
                00 00 0000 0000 0000 48e80100   | rate: cell_log 0, linklayer unaware, rate 125000 B/s
                00 00 0000 0000 0000 00000000   | peakrate: none
                45330000 d0121300 00000000   | limit 13125, buffer 1250000 ticks, mtu 0
            """);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(actual));
    }

    [Fact]
    public void Tbf_rate_above_32_bits_goes_in_TCA_TBF_RATE64()
    {
        byte[] actual = Encode((ref NetlinkWriter w) =>
            TrafficControl.WriteAddTbf(ref w, 1, TrafficControl.TC_H_ROOT, TrafficControl.MakeHandle(1, 0), new TbfParameters(0x1_0000_0001, 1, 1)));
        // The 32-bit field saturates; the rate follows in TCA_TBF_RATE64 (4), a u64.
        Assert.EndsWith("0C0004000100000001000000", Convert.ToHexString(actual));
        Assert.Contains("FFFFFFFF", Convert.ToHexString(actual.AsSpan(36 + 8 + 8, 12)));
    }

    [Fact]
    public void Ingress_qdisc_add()
    {
        byte[] actual = Encode((ref NetlinkWriter w) => TrafficControl.WriteAddIngress(ref w, 7));
        // TCA_KIND "ingress\0" (12-byte attribute), then an empty TCA_OPTIONS (4 bytes), as tc sends it.
        byte[] expected = Bytes("""
            34000000 2400 0506 00000000 00000000
            00 00 0000 07000000 0000ffff f1ffffff 00000000
            0c00 0100 696e6772 65737300
            0400 0200
            """);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(actual));
    }

    [Fact]
    public void U32_match_all_filter_with_mirred_egress_redirect()
    {
        byte[] actual = Encode((ref NetlinkWriter w) =>
            TrafficControl.WriteAddRedirect(ref w, 7, TrafficControl.IngressHandle, 1, TrafficControl.MakeHandle(1, 1), 9));
        byte[] expected = Bytes("""
            94000000 2c00 0506 00000000 00000000   | nlmsghdr: len 148, RTM_NEWTFILTER, REQUEST|ACK|EXCL|CREATE
            00 00 0000 07000000 00000000 0000ffff 00030100  | tcmsg: ifindex 7, handle 0, parent ffff:, info prio 1 << 16 | htons(ETH_P_ALL)
            0800 0100 75333200   | TCA_KIND "u32"
            6800 0200   | TCA_OPTIONS
              2400 0500   | TCA_U32_SEL: struct tc_u32_sel + one key
                01 00 01 00 0000 0000 0000 0000 00000000   | flags TERMINAL, nkeys 1, the rest 0
                00000000 00000000 00000000 00000000   | key: mask 0 val 0 off 0 offmask 0 (matches all)
              0800 0100 01000100   | TCA_U32_CLASSID 1:1 (flowid)
              3800 0700   | TCA_U32_ACT
                3400 0100   | action #1
                  0b00 0100 6d697272 65640000   | TCA_ACT_KIND "mirred"
                  2400 0200   | TCA_ACT_OPTIONS
                    2000 0200   | TCA_MIRRED_PARMS, struct tc_mirred:
                      00000000 00000000 04000000 00000000 00000000   | tc_gen: index, capab, action TC_ACT_STOLEN, refcnt, bindcnt
                      01000000 09000000   | eaction TCA_EGRESS_REDIR, ifindex 9
            """);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(actual));
    }

    [Fact]
    public void Delete_and_dump_requests()
    {
        byte[] del = Encode((ref NetlinkWriter w) => TrafficControl.WriteDeleteQdisc(ref w, 3, TrafficControl.TC_H_ROOT, 0));
        Assert.Equal(Convert.ToHexString(Bytes("24000000 2500 0500 00000000 00000000  00000000 03000000 00000000 ffffffff 00000000")), Convert.ToHexString(del));
        byte[] dump = Encode((ref NetlinkWriter w) => TrafficControl.WriteListQdiscs(ref w, 3));
        Assert.Equal(Convert.ToHexString(Bytes("24000000 2600 0103 00000000 00000000  00000000 03000000 00000000 00000000 00000000")), Convert.ToHexString(dump));
    }

    [Fact]
    public void A_dumped_tbf_qdisc_and_u32_filter_parse_back()
    {
        byte[] qdisc = Encode((ref NetlinkWriter w) =>
            TrafficControl.WriteAddTbf(ref w, 7, TrafficControl.TC_H_ROOT, TrafficControl.MakeHandle(1, 0), new TbfParameters(0x1_0000_0001, 13125, 1250000)));
        var reader = new NetlinkMessageReader(qdisc);
        Assert.True(reader.MoveNext());
        Qdisc q = TrafficControl.ParseQdisc(reader.Current);
        Assert.Equal(new Qdisc(7, 0x10000, TrafficControl.TC_H_ROOT, "tbf", new TbfParameters(0x1_0000_0001, 13125, 1250000)), q);

        byte[] filter = Encode((ref NetlinkWriter w) =>
            TrafficControl.WriteAddRedirect(ref w, 7, TrafficControl.IngressHandle, 1, TrafficControl.MakeHandle(1, 1), 9));
        reader = new NetlinkMessageReader(filter);
        Assert.True(reader.MoveNext());
        TcFilter f = TrafficControl.ParseFilter(reader.Current);
        Assert.Equal("u32", f.Kind);
        Assert.Equal(9, f.RedirectIfIndex);
        Assert.Equal(1, f.Priority);
        Assert.Equal(TrafficControl.ETH_P_ALL, f.Protocol);
    }
}
