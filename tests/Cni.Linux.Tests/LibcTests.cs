using System.Text;
using Cni.Linux.Interop;
using Tmds.Linux;

namespace Cni.Linux.Tests;

/// <summary>The project's libc layer over Tmds.LibC: the constants kept as our own match it, and the wrappers work.</summary>
public sealed class LibcTests
{
    [Fact]
    public void Address_families_kept_as_constants_equal_Tmds_LibC()
    {
        Assert.Equal(LibC.AF_UNSPEC, Libc.AF_UNSPEC);
        Assert.Equal(LibC.AF_INET, Libc.AF_INET);
        Assert.Equal(LibC.AF_INET6, Libc.AF_INET6);
        Assert.Equal(LibC.AF_BRIDGE, Libc.AF_BRIDGE);
        Assert.Equal(LibC.AF_NETLINK, Libc.AF_NETLINK);
    }

    [Fact]
    public unsafe void Paths_go_to_libc_as_NUL_terminated_UTF8_and_errno_comes_back()
    {
        string dir = Path.Combine(Path.GetTempPath(), "libc-test-é-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(0, Libc.mkdir(dir, 0x1c0)); // 0700
        try
        {
            Assert.True(Directory.Exists(dir));
            Assert.Equal(-1, Libc.mkdir(dir, 0x1c0));
            Assert.Equal(Libc.EEXIST, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
            string file = Path.Combine(dir, "f");
            int fd = Libc.open(file, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_CLOEXEC, 0x180);
            Assert.True(fd >= 0);
            byte[] text = Encoding.ASCII.GetBytes("abc");
            fixed (byte* p = text) Assert.Equal(3, Libc.write(fd, p, 3));
            Assert.Equal(0, Libc.close(fd));
            Assert.Equal(0, Libc.statx(Libc.AT_FDCWD, file, Libc.AT_STATX_SYNC_AS_STAT, Libc.STATX_BASIC_STATS, out var st));
            Assert.Equal(3ul, st.stx_size);
            Assert.Equal(0, Libc.unlink(file));
            Assert.Equal(-1, Libc.unlink(file));
            Assert.Equal(Libc.ENOENT, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
