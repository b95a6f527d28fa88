// Command cnitool drives CNI plugins by hand, the way a container runtime
// would: it loads a named network configuration list, builds the runtime
// parameters from its arguments and environment, and runs the plugin chain
// through the reference libcni.
//
// It accepts the same commands and environment variables as the upstream
// containernetworking/cni cnitool, plus a few extensions used by this
// repository's integration tests (CNI_CONTAINERID, CNI_CACHE_DIR,
// CNI_VALID_ATTACHMENTS, and the gc/status commands).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Environment variables understood by the tool.
const (
	envNetConfPath      = "NETCONFPATH"           // directory holding .conf/.conflist/.json files
	envPluginPath       = "CNI_PATH"              // colon-separated plugin directories
	envPluginArgs       = "CNI_ARGS"              // K=V;K=V pairs handed to the plugins
	envCapabilityArgs   = "CAP_ARGS"              // JSON object of capability arguments
	envIfName           = "CNI_IFNAME"            // interface name inside the container
	envContainerID      = "CNI_CONTAINERID"       // extension: explicit container ID
	envCacheDir         = "CNI_CACHE_DIR"         // extension: libcni result cache directory
	envValidAttachments = "CNI_VALID_ATTACHMENTS" // extension: JSON list for gc

	defaultNetConfPath = "/etc/cni/net.d"
	defaultIfName      = "eth0"
)

const usageText = `usage:
  cnitool add   <net-name> <netns-path>
  cnitool check <net-name> <netns-path>
  cnitool del   <net-name> <netns-path>
  cnitool gc    <net-name> [netns-path]
  cnitool status <net-name>

environment:
  NETCONFPATH           config directory (default /etc/cni/net.d)
  CNI_PATH              plugin directories, colon-separated
  CNI_ARGS              plugin arguments, "K=V;K=V"
  CAP_ARGS              capability arguments, JSON object
  CNI_IFNAME            container interface name (default eth0)
  CNI_CONTAINERID       container ID (default: derived from netns path)
  CNI_CACHE_DIR         libcni cache directory (default /var/lib/cni)
  CNI_VALID_ATTACHMENTS gc: JSON list of {"containerID":..,"ifname":..} to keep
`

// usageError marks a mistake in how the tool was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "cnitool: %s\n\n%s", ue.msg, usageText)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "cnitool: %s\n", describeError(err))
		os.Exit(1)
	}
}

// describeError renders an error, adding the CNI error code when a plugin
// reported one so callers can tell failures apart.
func describeError(err error) string {
	var cniErr *types.Error
	if errors.As(err, &cniErr) && cniErr.Code != 0 {
		return fmt.Sprintf("%v (CNI error code %d)", err, cniErr.Code)
	}
	return err.Error()
}

func run(argv []string, stdout io.Writer) error {
	if len(argv) == 0 {
		return usageError{"missing command"}
	}
	command, rest := argv[0], argv[1:]

	switch command {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "add", "check", "del":
		if len(rest) != 2 {
			return usageError{fmt.Sprintf("%s needs <net-name> <netns-path>", command)}
		}
	case "gc":
		if len(rest) != 1 && len(rest) != 2 {
			return usageError{"gc needs <net-name> [netns-path]"}
		}
	case "status":
		if len(rest) != 1 {
			return usageError{"status needs <net-name>"}
		}
	default:
		return usageError{fmt.Sprintf("unknown command %q", command)}
	}

	netName := rest[0]
	list, err := libcni.LoadConfList(envOr(envNetConfPath, defaultNetConfPath), netName)
	if err != nil {
		return fmt.Errorf("loading network %q: %w", netName, err)
	}

	tool := newTool(list)
	ctx := context.Background()

	switch command {
	case "status":
		return tool.status(ctx)
	case "gc":
		netnsPath := ""
		if len(rest) == 2 {
			netnsPath = rest[1]
		}
		return tool.gc(ctx, netnsPath)
	}

	rt, err := runtimeConfFor(rest[1])
	if err != nil {
		return err
	}
	switch command {
	case "add":
		result, err := tool.add(ctx, rt)
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(result, '\n'))
		return err
	case "check":
		return tool.check(ctx, rt)
	default:
		return tool.del(ctx, rt)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// pluginDirs returns the CNI_PATH directories, ignoring empty entries.
func pluginDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(envPluginPath)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// containerIDFor picks the container ID: CNI_CONTAINERID when set, else a
// stable name derived from the absolute netns path (as upstream cnitool does).
func containerIDFor(netnsPath string) string {
	if id := os.Getenv(envContainerID); id != "" {
		return id
	}
	digest := sha512.Sum512([]byte(netnsPath))
	return fmt.Sprintf("cnitool-%x", digest[:10])
}

// runtimeConfFor builds the per-invocation parameters for one container.
func runtimeConfFor(netnsArg string) (*libcni.RuntimeConf, error) {
	netnsPath, err := filepath.Abs(netnsArg)
	if err != nil {
		return nil, fmt.Errorf("resolving netns path %q: %w", netnsArg, err)
	}

	pluginArgs, err := parsePluginArgs(os.Getenv(envPluginArgs))
	if err != nil {
		return nil, err
	}
	capArgs, err := parseCapabilityArgs(os.Getenv(envCapabilityArgs))
	if err != nil {
		return nil, err
	}

	return &libcni.RuntimeConf{
		ContainerID:    containerIDFor(netnsPath),
		NetNS:          netnsPath,
		IfName:         envOr(envIfName, defaultIfName),
		Args:           pluginArgs,
		CapabilityArgs: capArgs,
	}, nil
}

// parsePluginArgs splits "K=V;K=V" into pairs. The value may itself contain '='.
func parsePluginArgs(raw string) ([][2]string, error) {
	if raw == "" {
		return nil, nil
	}
	var pairs [][2]string
	for _, item := range strings.Split(raw, ";") {
		if item == "" {
			continue
		}
		eq := strings.IndexByte(item, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("invalid %s pair %q: want KEY=VALUE", envPluginArgs, item)
		}
		pairs = append(pairs, [2]string{item[:eq], item[eq+1:]})
	}
	return pairs, nil
}

// parseCapabilityArgs decodes CAP_ARGS, which must be a JSON object.
func parseCapabilityArgs(raw string) (map[string]interface{}, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var caps map[string]interface{}
	if err := json.Unmarshal([]byte(raw), &caps); err != nil {
		return nil, fmt.Errorf("invalid %s (want a JSON object): %w", envCapabilityArgs, err)
	}
	return caps, nil
}
