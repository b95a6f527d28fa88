package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// newestLibcniVersion is the newest spec version whose results libcni 1.1.2
// can parse. Configurations declaring a later 1.x version are relabelled
// for libcni's bookkeeping only; see versionBridge.
const newestLibcniVersion = "1.0.0"

// tool runs one network configuration list.
type tool struct {
	list      *libcni.NetworkConfigList // as written in the config file
	engine    *libcni.NetworkConfigList // as handed to libcni (maybe relabelled)
	cni       *libcni.CNIConfig
	dirs      []string
	plain     invoke.Exec
	relabeled bool
}

func newTool(list *libcni.NetworkConfigList) *tool {
	t := &tool{
		list:   list,
		engine: list,
		dirs:   pluginDirs(),
		plain: &invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		},
	}
	exec := t.plain
	if laterMinorOfV1(list.CNIVersion) {
		relabelled := *list
		relabelled.CNIVersion = newestLibcniVersion
		t.engine = &relabelled
		t.relabeled = true
		exec = &versionBridge{inner: t.plain, declared: list.CNIVersion}
	}
	t.cni = libcni.NewCNIConfigWithCacheDir(t.dirs, os.Getenv(envCacheDir), exec)
	return t
}

// laterMinorOfV1 reports whether v is 1.x with x > 0: a version whose results
// have the 1.0.0 shape but which libcni 1.1.2 does not know by name.
func laterMinorOfV1(v string) bool {
	major, minor, _, err := version.ParseVersion(v)
	return err == nil && major == 1 && minor > 0
}

func (t *tool) add(ctx context.Context, rt *libcni.RuntimeConf) ([]byte, error) {
	result, err := t.cni.AddNetworkList(ctx, t.engine, rt)
	if err != nil {
		return nil, err
	}
	if err := t.recordNetNSInCache(rt); err != nil {
		fmt.Fprintf(os.Stderr, "cnitool: warning: %v\n", err)
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("encoding result: %w", err)
	}
	if t.relabeled {
		raw, err = setVersionField(raw, t.list.CNIVersion)
		if err != nil {
			return nil, err
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "    "); err != nil {
		return nil, err
	}
	return pretty.Bytes(), nil
}

// recordNetNSInCache adds the "netns" field libcni 1.2 keeps in its result
// cache (1.1.2 omits it), so gc can later DEL stale attachments inside their
// namespace. libcni 1.1.2 ignores the extra field when reading.
func (t *tool) recordNetNSInCache(rt *libcni.RuntimeConf) error {
	path := filepath.Join(envOr(envCacheDir, libcni.CacheDir), "results",
		fmt.Sprintf("%s-%s-%s", t.list.Name, rt.ContainerID, rt.IfName))
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading cache entry to record netns: %w", err)
	}
	entry, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("cache entry %s: %w", path, err)
	}
	entry["netns"] = rt.NetNS
	updated, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	// In place: the entry only grows by the field, and replacing the file by a rename makes ext4 flush the
	// new file's data at once (its auto_da_alloc heuristic), which cost more than the rest of the call.
	// libcni itself writes its cache files in place too.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(updated, 0)
	if err == nil && len(updated) < len(raw) {
		err = f.Truncate(int64(len(updated)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (t *tool) check(ctx context.Context, rt *libcni.RuntimeConf) error {
	return t.cni.CheckNetworkList(ctx, t.engine, rt)
}

func (t *tool) del(ctx context.Context, rt *libcni.RuntimeConf) error {
	return t.cni.DelNetworkList(ctx, t.engine, rt)
}

// supportsLifecycleCommands reports whether the list's version has GC and STATUS
// (spec 1.1.0 and later). Like libcni 1.2, older lists skip those calls.
func (t *tool) supportsLifecycleCommands() bool {
	ok, err := version.GreaterThanOrEqualTo(t.list.CNIVersion, "1.1.0")
	return err == nil && ok
}

// status asks every plugin of the list whether it is ready (CNI STATUS).
func (t *tool) status(ctx context.Context) error {
	if !t.supportsLifecycleCommands() {
		fmt.Fprintf(os.Stderr, "cnitool: network %q declares cniVersion %q; STATUS needs 1.1.0 or later, nothing to ask\n",
			t.list.Name, t.list.CNIVersion)
		return nil
	}
	for _, plugin := range t.list.Plugins {
		err := t.invokeLifecycle(ctx, "STATUS", plugin, nil)
		if err != nil {
			return fmt.Errorf("plugin %s failed (status): %w", describePlugin(plugin), err)
		}
	}
	return nil
}

// invokeLifecycle runs a list-wide command (GC, STATUS) on one plugin: stdin
// is the plugin's own config with the list's name and version plus extra keys;
// only CNI_COMMAND and CNI_PATH are meaningful in the environment.
func (t *tool) invokeLifecycle(ctx context.Context, command string, plugin *libcni.NetworkConfig, extra map[string]interface{}) error {
	inject := map[string]interface{}{
		"name":       t.list.Name,
		"cniVersion": t.list.CNIVersion,
	}
	for k, v := range extra {
		inject[k] = v
	}
	conf, err := libcni.InjectConf(plugin, inject)
	if err != nil {
		return err
	}
	pluginPath, err := t.plain.FindInPath(plugin.Network.Type, t.dirs)
	if err != nil {
		return err
	}
	args := &invoke.Args{Command: command, Path: strings.Join(t.dirs, string(os.PathListSeparator))}
	return invoke.ExecPluginWithoutResult(ctx, pluginPath, conf.Bytes, args, t.plain)
}

func describePlugin(plugin *libcni.NetworkConfig) string {
	if plugin == nil || plugin.Network == nil {
		return "<missing>"
	}
	if plugin.Network.Name != "" {
		return fmt.Sprintf("type=%q name=%q", plugin.Network.Type, plugin.Network.Name)
	}
	return fmt.Sprintf("type=%q", plugin.Network.Type)
}

// joinErrors folds several errors into one (Go 1.19 has no errors.Join).
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%d errors: %s", len(errs), strings.Join(msgs, "; "))
}
