using System.Text;
using Cni.Linux.Interop;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace Cni.Linux.Tests;

public sealed class DescriptorStreamTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "descriptor-stream-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void Writing_moves_the_descriptors_offset_so_the_next_writer_appends()
    {
        using (SafeFileHandle handle = File.OpenHandle(_path, FileMode.Create, FileAccess.Write))
        {
            int fd = (int)handle.DangerousGetHandle();
            using (var first = DescriptorStream.ForWriting(fd))
                first.Write(Encoding.ASCII.GetBytes("result"));
            // A FileStream starts at the descriptor's current offset: what a parent writing on would see.
            using var next = new FileStream(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            next.Write(Encoding.ASCII.GetBytes("+after"));
        }
        Assert.Equal("result+after", File.ReadAllText(_path));
    }

    [Fact]
    public void Reading_moves_the_descriptors_offset_and_ends_with_zero()
    {
        File.WriteAllText(_path, "config");
        using SafeFileHandle handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read);
        int fd = (int)handle.DangerousGetHandle();
        var stream = DescriptorStream.ForReading(fd);
        var buffer = new byte[4];
        Assert.Equal(4, stream.Read(buffer, 0, 4));
        Assert.Equal("conf", Encoding.ASCII.GetString(buffer));
        Assert.Equal(2, stream.Read(buffer, 0, 4));
        Assert.Equal(0, stream.Read(buffer, 0, 4));
        Assert.False(stream.CanWrite);
        Assert.Throws<NotSupportedException>(() => stream.Write(buffer, 0, 1));
    }
}
