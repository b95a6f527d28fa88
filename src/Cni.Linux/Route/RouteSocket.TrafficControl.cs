using Cni.Linux.Interop;
using Cni.Linux.Netlink;
using Cni.Linux.Tc;

namespace Cni.Linux.Route;

/// <summary>Traffic control (qdiscs and filters) over this rtnetlink socket; the encoding is in <see cref="TrafficControl"/>.</summary>
public sealed partial class RouteSocket
{
    /// <summary>Adds a TBF qdisc; fails with EEXIST when the device already has one at that place.</summary>
    public void AddTbf(int ifIndex, uint parent, uint handle, TbfParameters tbf)
    {
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteAddTbf(ref writer, ifIndex, parent, handle, tbf);
            Execute(ref writer, $"add tbf qdisc on link #{ifIndex}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Adds the ingress qdisc (ffff:); fails with EEXIST when there is one.</summary>
    public void AddIngressQdisc(int ifIndex)
    {
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteAddIngress(ref writer, ifIndex);
            Execute(ref writer, $"add ingress qdisc on link #{ifIndex}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Adds a u32 match-all filter under <paramref name="parent"/> whose mirred action redirects every packet to <paramref name="targetIfIndex"/>.</summary>
    public void AddRedirectFilter(int ifIndex, uint parent, ushort priority, uint classId, int targetIfIndex)
    {
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteAddRedirect(ref writer, ifIndex, parent, priority, classId, targetIfIndex);
            Execute(ref writer, $"add redirect filter on link #{ifIndex}");
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>Deletes the qdisc at <paramref name="parent"/> (root or ingress); false when there was none (or the device is gone).</summary>
    public bool DeleteQdisc(int ifIndex, uint parent, uint handle = 0)
    {
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteDeleteQdisc(ref writer, ifIndex, parent, handle);
            return ExecuteUnlessMissing(ref writer, $"delete qdisc on link #{ifIndex}", Errno.ENOENT, Errno.ENODEV);
        }
        catch (NetlinkException e) when (e.Errno == Errno.EINVAL)
        {
            // Deleting the default root qdisc (noqueue, pfifo_fast) of a device: nothing of ours was there.
            return false;
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>The qdiscs of one device.</summary>
    public IReadOnlyList<Qdisc> ListQdiscs(int ifIndex)
    {
        var list = new List<Qdisc>();
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteListQdiscs(ref writer, ifIndex);
            _socket.Dump(ref writer, message =>
            {
                if (message.Type == TrafficControl.RTM_NEWQDISC)
                {
                    Qdisc q = TrafficControl.ParseQdisc(message);
                    if (q.IfIndex == ifIndex) list.Add(q);
                }
            }, $"list qdiscs of link #{ifIndex}");
        }
        finally
        {
            writer.Dispose();
        }
        return list;
    }

    /// <summary>The filters under <paramref name="parent"/> of one device.</summary>
    public IReadOnlyList<TcFilter> ListFilters(int ifIndex, uint parent)
    {
        var list = new List<TcFilter>();
        var writer = new NetlinkWriter();
        try
        {
            TrafficControl.WriteListFilters(ref writer, ifIndex, parent);
            _socket.Dump(ref writer, message =>
            {
                if (message.Type == TrafficControl.RTM_NEWTFILTER)
                {
                    TcFilter f = TrafficControl.ParseFilter(message);
                    if (f.IfIndex == ifIndex) list.Add(f);
                }
            }, $"list filters of link #{ifIndex}");
        }
        finally
        {
            writer.Dispose();
        }
        return list;
    }
}
