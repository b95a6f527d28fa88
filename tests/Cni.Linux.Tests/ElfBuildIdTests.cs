using System.Diagnostics;
using Cni.Linux.Processes;

namespace Cni.Linux.Tests;

public class ElfBuildIdTests
{
    [Fact]
    public void Reads_the_build_id_that_file_reports()
    {
        const string path = "/bin/true";
        var psi = new ProcessStartInfo("file", ["-L", path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        int at = text.IndexOf("BuildID[sha1]=", StringComparison.Ordinal);
        Assert.True(at >= 0, text);
        string expected = text.Substring(at + 14, 40);
        Assert.Equal(expected, Convert.ToHexStringLower(ElfBuildId.Read(path)!));
    }

    [Fact]
    public void A_file_that_is_not_elf_has_no_build_id()
    {
        Assert.Null(ElfBuildId.Read("/etc/hostname"));
        Assert.Null(ElfBuildId.Read("/nonexistent/file"));
    }

    [Fact]
    public void Notes_other_than_the_gnu_build_id_are_skipped()
    {
        byte[] notes =
        [
            4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, (byte)'G', (byte)'N', (byte)'U', 0, 9, 9, 9, 9, // NT_GNU_ABI_TAG
            4, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, (byte)'G', (byte)'N', (byte)'U', 0, 0xAB, 0xCD, 0xEF, 0, // build ID, padded
        ];
        Assert.Equal(new byte[] { 0xAB, 0xCD, 0xEF }, ElfBuildId.FindBuildId(notes));
    }
}
