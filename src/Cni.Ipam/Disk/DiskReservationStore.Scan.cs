using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Cni.Ipam.Disk;

public sealed partial class DiskReservationStore
{
    /// <summary>Called for each file whose name may be an address: its name and first 4 KiB, or readable=false.</summary>
    private delegate void EntryVisitor(string name, ReadOnlySpan<byte> content, bool readable);

    private const int DirentBufferSize = 256 * 1024;

    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    private const int DirentRecLenOffset = 16;
    private const int DirentTypeOffset = 18;
    private const int DirentNameOffset = 19;

    /// <summary>
    /// One pass over the network directory with getdents64, reading every file whose name could be an address
    /// through openat() relative to the directory. Temporary files left by a killed writer are removed (callers
    /// hold the lock, so no live writer owns one). Under the lock, the names seen become the known-taken set.
    /// </summary>
    private unsafe void Scan(EntryVisitor visit)
    {
        using var dir = Interop.open(_dir, Interop.O_RDONLY | Interop.O_DIRECTORY);
        if (dir.IsInvalid)
        {
            int errno = Interop.LastErrno;
            if (errno == Interop.ENOENT) return;
            throw Interop.ErrnoException("open", _dir, errno);
        }

        var taken = new HashSet<string>(StringComparer.Ordinal);
        byte* dirents = (byte*)NativeMemory.Alloc(DirentBufferSize);
        byte* content = stackalloc byte[4096];
        ReadOnlySpan<byte> tempPrefix = ".host-local-tmp."u8;
        try
        {
            while (true)
            {
                nint n = Interop.getdents64(dir, dirents, DirentBufferSize);
                if (n < 0)
                {
                    int errno = Interop.LastErrno;
                    if (errno == Interop.EINTR) continue;
                    throw Interop.ErrnoException("getdents64", _dir, errno);
                }
                if (n == 0) break;
                for (nint off = 0; off < n;)
                {
                    byte* rec = dirents + off;
                    off += *(ushort*)(rec + DirentRecLenOffset);
                    byte type = rec[DirentTypeOffset];
                    byte* namePtr = rec + DirentNameOffset;
                    var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(namePtr);
                    if (type == Interop.DT_DIR) continue;
                    if (name.StartsWith(tempPrefix))
                    {
                        Interop.unlinkat(dir, namePtr, 0);
                        continue;
                    }
                    if (!CouldBeAddress(name)) continue;

                    string nameText = Encoding.ASCII.GetString(name);
                    taken.Add(nameText);
                    using var fd = Interop.openat(dir, namePtr, Interop.O_RDONLY | Interop.O_NOFOLLOW);
                    if (fd.IsInvalid)
                    {
                        // A directory whose type the file system did not report, or a file we may not read.
                        if (Interop.LastErrno == Interop.EISDIR) { taken.Remove(nameText); continue; }
                        visit(nameText, default, false);
                        continue;
                    }
                    int len = ReadUpTo(fd, content, 4096);
                    if (len < 0) visit(nameText, default, false);
                    else visit(nameText, new ReadOnlySpan<byte>(content, len), true);
                }
            }
        }
        finally
        {
            NativeMemory.Free(dirents);
        }
        if (_held is not null) _held.Taken = taken;
    }

    /// <summary>Only hex digits, '.' and ':' (skips "lock", "last_reserved_ip.N" and anything else that is not an address).</summary>
    private static bool CouldBeAddress(ReadOnlySpan<byte> name)
    {
        if (name.Length is < 2 or > 45) return false;
        foreach (byte b in name)
            if (!(char.IsAsciiHexDigit((char)b) || b is (byte)'.' or (byte)':')) return false;
        return true;
    }
}
