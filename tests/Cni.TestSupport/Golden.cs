using System.Runtime.CompilerServices;
using Xunit;

namespace Cni.TestSupport;

/// <summary>
/// Golden-file checks: the expected text lives next to the test in <c>golden/</c>. Run the tests with
/// <c>UPDATE_GOLDEN=1</c> to (re)write the files, then review the diff before committing it.
/// </summary>
public static class Golden
{
    public static void Match(string name, string actual, [CallerFilePath] string callerFile = "")
    {
        string dir = Path.Combine(Path.GetDirectoryName(callerFile)!, "golden");
        string file = Path.Combine(dir, name);
        actual = actual.Replace("\r\n", "\n").TrimEnd() + "\n";
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            // Rewriting makes every golden test pass; CI must compare, never rewrite.
            Assert.False(Environment.GetEnvironmentVariable("CI") == "true",
                "UPDATE_GOLDEN=1 is set under CI=true: golden files are only rewritten on a developer's machine");
            Directory.CreateDirectory(dir);
            File.WriteAllText(file, actual);
            return;
        }
        Assert.True(File.Exists(file), $"golden file {file} is missing; run with UPDATE_GOLDEN=1 to create it");
        string expected = File.ReadAllText(file).Replace("\r\n", "\n");
        Assert.Equal(expected, actual);
    }
}
