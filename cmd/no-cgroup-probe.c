/*
 * Linked into every plugin executable with -Wl,--wrap=fopen64 (cmd/Directory.Build.targets).
 *
 * At start-up the .NET runtime looks for cgroup limits (GC heap size, CPU count) by reading
 * /proc/self/mountinfo from top to bottom, twice (once for the GC, once for the runtime), with getline
 * and sscanf on every line. A node's mount table grows with its containers (every network namespace a
 * runtime pins is a bind mount), so that read grew a plugin's start-up from 2.3 ms CPU at 40 containers
 * to 5.5 ms at 1,000 (perf stat, CNI_COMMAND=VERSION). A plugin is a single-threaded process that lives
 * for milliseconds with a heap of a few hundred KiB: cgroup limits change nothing for it. When the mount
 * table cannot be opened the runtime carries on without limits ("no cgroup"), so this wrapper reports it
 * as absent. Every other file goes to the real fopen64; the plugins' own code does not use fopen.
 */
#define _LARGEFILE64_SOURCE 1 /* fopen64 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

FILE *__real_fopen64(const char *path, const char *mode);

FILE *__wrap_fopen64(const char *path, const char *mode)
{
    if (path != NULL && strcmp(path, "/proc/self/mountinfo") == 0)
    {
        errno = ENOENT;
        return NULL;
    }
    return __real_fopen64(path, mode);
}
