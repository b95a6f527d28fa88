package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
)

// attachment identifies one container interface on a network, in the shape
// the spec uses for "cni.dev/valid-attachments".
type attachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// validAttachments collects the attachments gc must keep: those listed in
// CNI_VALID_ATTACHMENTS plus, when a netns path is given, that container's
// attachment (container ID and CNI_IFNAME as for add/del).
func validAttachments(netnsArg string) ([]attachment, error) {
	keep := []attachment{}
	if raw := os.Getenv(envValidAttachments); raw != "" {
		if err := json.Unmarshal([]byte(raw), &keep); err != nil {
			return nil, fmt.Errorf("invalid %s (want a JSON list of {\"containerID\":..,\"ifname\":..}): %w",
				envValidAttachments, err)
		}
		if keep == nil {
			keep = []attachment{}
		}
		for i, a := range keep {
			if a.ContainerID == "" || a.IfName == "" {
				return nil, fmt.Errorf("invalid %s: entry %d needs both containerID and ifname", envValidAttachments, i)
			}
		}
	}
	if netnsArg != "" {
		netnsPath, err := filepath.Abs(netnsArg)
		if err != nil {
			return nil, fmt.Errorf("resolving netns path %q: %w", netnsArg, err)
		}
		keep = append(keep, attachment{ContainerID: containerIDFor(netnsPath), IfName: envOr(envIfName, defaultIfName)})
	}
	return keep, nil
}

// gc removes everything of this network that is not a valid attachment, in
// the two steps libcni 1.2 takes:
//  1. every attachment in the result cache for this network that is not valid
//     is deleted with a normal DEL of the whole list;
//  2. for spec 1.1.0+ lists, every plugin gets CNI_COMMAND=GC with
//     "cni.dev/valid-attachments" on stdin.
func (t *tool) gc(ctx context.Context, netnsArg string) error {
	keep, err := validAttachments(netnsArg)
	if err != nil {
		return err
	}
	isValid := make(map[attachment]bool, len(keep))
	for _, a := range keep {
		isValid[a] = true
	}

	var errs []error
	stale, err := t.cachedAttachments()
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range stale {
		if isValid[attachment{ContainerID: c.ContainerID, IfName: c.IfName}] {
			continue
		}
		rt := &libcni.RuntimeConf{
			ContainerID:    c.ContainerID,
			NetNS:          c.NetNS,
			IfName:         c.IfName,
			Args:           c.CniArgs,
			CapabilityArgs: c.CapabilityArgs,
		}
		if err := t.del(ctx, rt); err != nil {
			errs = append(errs, fmt.Errorf("deleting stale attachment %s/%s: %w", c.ContainerID, c.IfName, err))
		}
	}

	if !t.supportsLifecycleCommands() {
		fmt.Fprintf(os.Stderr, "cnitool: network %q declares cniVersion %q; plugin GC needs 1.1.0 or later, only cached attachments were swept\n",
			t.list.Name, t.list.CNIVersion)
		return joinErrors(errs)
	}
	extra := map[string]interface{}{
		"cni.dev/valid-attachments": keep,
		// libcni 1.2 also sends the key an earlier spec draft used (#1101).
		"cni.dev/attachments": keep,
	}
	for _, plugin := range t.list.Plugins {
		if err := t.invokeLifecycle(ctx, "GC", plugin, extra); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s failed (gc): %w", describePlugin(plugin), err))
		}
	}
	return joinErrors(errs)
}

// cachedAttachment is the part of a libcni result-cache entry gc needs.
type cachedAttachment struct {
	Kind           string                 `json:"kind"`
	ContainerID    string                 `json:"containerId"`
	IfName         string                 `json:"ifName"`
	NetworkName    string                 `json:"networkName"`
	NetNS          string                 `json:"netns"` // written by libcni >= 1.2 only
	CniArgs        [][2]string            `json:"cniArgs"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs"`
}

// cachedAttachments lists the cache entries libcni wrote for this network.
func (t *tool) cachedAttachments() ([]cachedAttachment, error) {
	cacheDir := envOr(envCacheDir, libcni.CacheDir)
	dir := filepath.Join(cacheDir, "results")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading result cache: %w", err)
	}
	var found []cachedAttachment
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // vanished or unreadable: not ours to judge
		}
		var c cachedAttachment
		if json.Unmarshal(data, &c) != nil || c.Kind != libcni.CNICacheV1 {
			continue
		}
		if c.NetworkName != t.list.Name || c.ContainerID == "" || c.IfName == "" {
			continue
		}
		found = append(found, c)
	}
	return found, nil
}
