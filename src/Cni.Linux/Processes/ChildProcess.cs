using System.Runtime.InteropServices;
using System.Text;
using Cni.Linux.Interop;

namespace Cni.Linux.Processes;

/// <summary>What a finished child process left: its exit code (128+signal when killed) and its stdout.</summary>
public readonly record struct ChildProcessResult(int ExitCode, byte[] Stdout);

/// <summary>
/// Runs a program with posix_spawn: stdin from a buffer, stdout captured, stderr inherited, the given
/// environment only. This is what a plugin uses to delegate to an IPAM plugin; it costs a fraction of
/// <c>System.Diagnostics.Process</c>, which sets up signal handling and helper threads first.
/// </summary>
public static unsafe class ChildProcess
{
    private const int EINTR = (int)Errno.EINTR;

    public static ChildProcessResult Run(string path, IReadOnlyList<string> argv, IEnumerable<KeyValuePair<string, string>> environment, ReadOnlySpan<byte> stdin)
    {
        int* inPipe = stackalloc int[2];
        int* outPipe = stackalloc int[2];
        if (Libc.pipe2(inPipe, Libc.O_CLOEXEC) != 0) throw LinuxException.FromLastError("pipe2");
        if (Libc.pipe2(outPipe, Libc.O_CLOEXEC) != 0)
        {
            var e = LinuxException.FromLastError("pipe2");
            Libc.close(inPipe[0]);
            Libc.close(inPipe[1]);
            throw e;
        }

        int pid;
        using (var args = new NativeStringArray(argv))
        using (var env = new NativeStringArray(environment.Select(kv => kv.Key + "=" + kv.Value)))
        {
            byte* actions = stackalloc byte[Libc.PosixSpawnFileActionsSize];
            byte* attr = stackalloc byte[Libc.PosixSpawnAttrSize];
            byte* signals = stackalloc byte[Libc.SigsetSize];
            Libc.posix_spawn_file_actions_init(actions);
            Libc.posix_spawnattr_init(attr);
            try
            {
                // The pipes are close-on-exec; dup2 onto 0 and 1 gives the child plain copies.
                Libc.posix_spawn_file_actions_adddup2(actions, inPipe[0], 0);
                Libc.posix_spawn_file_actions_adddup2(actions, outPipe[1], 1);
                // The child starts with default SIGPIPE handling and nothing blocked, whatever the runtime set here.
                Libc.sigemptyset(signals);
                Libc.posix_spawnattr_setsigmask(attr, signals);
                Libc.sigaddset(signals, Libc.SIGPIPE);
                Libc.posix_spawnattr_setsigdefault(attr, signals);
                Libc.posix_spawnattr_setflags(attr, Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK);
                int error = Libc.posix_spawn(&pid, path, actions, attr, args.Pointer, env.Pointer);
                Libc.close(inPipe[0]);
                Libc.close(outPipe[1]);
                if (error != 0)
                {
                    Libc.close(inPipe[1]);
                    Libc.close(outPipe[0]);
                    throw new LinuxException((Errno)error, "posix_spawn " + path);
                }
            }
            finally
            {
                Libc.posix_spawnattr_destroy(attr);
                Libc.posix_spawn_file_actions_destroy(actions);
            }
        }

        byte[] output;
        try
        {
            WriteAll(inPipe[1], stdin);
        }
        finally
        {
            Libc.close(inPipe[1]);
        }
        try
        {
            output = ReadAll(outPipe[0]);
        }
        finally
        {
            Libc.close(outPipe[0]);
        }
        return new ChildProcessResult(Wait(pid), output);
    }

    private static void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.write(fd, p + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == EINTR) continue;
                    return; // The child stopped reading (EPIPE): what it made of it shows in its output.
                }
                done += (int)n;
            }
        }
    }

    private static byte[] ReadAll(int fd)
    {
        var buffer = new byte[16384];
        int length = 0;
        while (true)
        {
            if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.read(fd, p + length, (nuint)(buffer.Length - length));
            }
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                throw LinuxException.FromLastError("read from child");
            }
            if (n == 0) break;
            length += (int)n;
        }
        return buffer.AsSpan(0, length).ToArray();
    }

    private static int Wait(int pid)
    {
        int status;
        while (Libc.waitpid(pid, &status, 0) < 0)
        {
            if (Marshal.GetLastPInvokeError() != EINTR) throw LinuxException.FromLastError("waitpid");
        }
        int signal = status & 0x7f;
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
    }

    /// <summary>A NULL-terminated array of NUL-terminated UTF-8 strings in native memory.</summary>
    private sealed class NativeStringArray : IDisposable
    {
        private readonly List<nint> _strings = [];
        public byte** Pointer { get; }

        public NativeStringArray(IEnumerable<string> items)
        {
            foreach (var s in items)
            {
                int n = Encoding.UTF8.GetByteCount(s);
                byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
                Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
                p[n] = 0;
                _strings.Add((nint)p);
            }
            Pointer = (byte**)NativeMemory.Alloc((nuint)(_strings.Count + 1), (nuint)sizeof(nint));
            for (int i = 0; i < _strings.Count; i++) Pointer[i] = (byte*)_strings[i];
            Pointer[_strings.Count] = null;
        }

        public void Dispose()
        {
            foreach (var p in _strings) NativeMemory.Free((void*)p);
            NativeMemory.Free(Pointer);
        }
    }
}
