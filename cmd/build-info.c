/*
 * Linked into every plugin executable (cmd/Directory.Build.targets): one string that names the framework and the
 * runtime the plugin was compiled against, so that `strings /opt/cni/bin/bridge | grep sharpcni:` tells an operator
 * which .NET is inside a binary on a node. SHARPCNI_BUILD_INFO comes from the build (build-info.h in the
 * intermediate directory). Nothing reads the string: the link keeps it with --require-defined, since
 * --gc-sections drops what nothing references (a .comment/.ident entry in an otherwise unreferenced object too).
 */
#include "build-info.h"

const char sharpcni_build_info[] = "sharpcni: " SHARPCNI_BUILD_INFO;
