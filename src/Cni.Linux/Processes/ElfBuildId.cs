using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Cni.Linux.Processes;

/// <summary>
/// Reads the GNU build ID note (NT_GNU_BUILD_ID) of a 64-bit little-endian ELF file: a few small reads
/// of the program headers and the note segment, never the whole file. Two executables with the same
/// build ID are the same program.
/// </summary>
public static class ElfBuildId
{
    private const int PT_NOTE = 4;
    private const int NT_GNU_BUILD_ID = 3;
    private const int MaxNoteSegment = 4096;

    /// <summary>The build ID, or null when the file is not a readable ELF64 file with one.</summary>
    public static byte[]? Read(string path)
    {
        try
        {
            using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return Read(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static byte[]? Read(SafeFileHandle file)
    {
        Span<byte> header = stackalloc byte[64];
        if (RandomAccess.Read(file, header, 0) != 64) return null;
        // "\x7fELF", ELFCLASS64, ELFDATA2LSB
        if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F' || header[4] != 2 || header[5] != 1)
            return null;
        long phoff = BinaryPrimitives.ReadInt64LittleEndian(header[0x20..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(header[0x36..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(header[0x38..]);
        if (phentsize < 56 || phnum == 0 || phnum > 256) return null;

        byte[] table = new byte[phentsize * phnum];
        if (RandomAccess.Read(file, table, phoff) != table.Length) return null;
        for (int i = 0; i < phnum; i++)
        {
            ReadOnlySpan<byte> ph = table.AsSpan(i * phentsize, phentsize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PT_NOTE) continue;
            long offset = BinaryPrimitives.ReadInt64LittleEndian(ph[8..]);
            long size = BinaryPrimitives.ReadInt64LittleEndian(ph[32..]);
            if (size <= 0 || size > MaxNoteSegment) continue;
            byte[] notes = new byte[size];
            if (RandomAccess.Read(file, notes, offset) != size) continue;
            if (FindBuildId(notes) is { } id) return id;
        }
        return null;
    }

    /// <summary>Walks the notes of one segment: namesz, descsz, type, then name and desc padded to 4 bytes.</summary>
    internal static byte[]? FindBuildId(ReadOnlySpan<byte> notes)
    {
        int pos = 0;
        while (pos + 12 <= notes.Length)
        {
            int namesz = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes[pos..]);
            int descsz = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 4)..]);
            int type = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes[(pos + 8)..]);
            int nameStart = pos + 12;
            int descStart = nameStart + Align4(namesz);
            if (namesz < 0 || descsz < 0 || descStart + descsz > notes.Length) return null;
            if (type == NT_GNU_BUILD_ID && namesz == 4 && notes.Slice(nameStart, 4).SequenceEqual("GNU\0"u8))
                return notes.Slice(descStart, descsz).ToArray();
            pos = descStart + Align4(descsz);
        }
        return null;
    }

    private static int Align4(int n) => (n + 3) & ~3;
}
