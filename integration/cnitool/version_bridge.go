package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// versionBridge lets libcni 1.1.2 drive a list that declares a later 1.x
// spec version (e.g. 1.1.0). libcni is told the list is 1.0.0 (the newest it
// can parse; 1.x results share that shape), and this Exec translates at the
// process boundary: plugins see the declared version on stdin (top level and
// prevResult), and results coming back are relabelled 1.0.0 for libcni.
type versionBridge struct {
	inner    invoke.Exec
	declared string
}

func (b *versionBridge) FindInPath(plugin string, paths []string) (string, error) {
	return b.inner.FindInPath(plugin, paths)
}

func (b *versionBridge) Decode(jsonBytes []byte) (version.PluginInfo, error) {
	return b.inner.Decode(jsonBytes)
}

func (b *versionBridge) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	command := lastEnvValue(environ, "CNI_COMMAND")
	if command == "VERSION" {
		return b.inner.ExecPlugin(ctx, pluginPath, stdin, environ)
	}
	stdin, err := b.toDeclared(stdin)
	if err != nil {
		return nil, err
	}
	out, err := b.inner.ExecPlugin(ctx, pluginPath, stdin, environ)
	if err != nil || command != "ADD" || len(bytes.TrimSpace(out)) == 0 {
		return out, err
	}
	return relabelResult(out, b.declared, newestLibcniVersion)
}

// toDeclared rewrites a plugin's stdin so that it carries the declared version.
func (b *versionBridge) toDeclared(stdin []byte) ([]byte, error) {
	conf, err := decodeObject(stdin)
	if err != nil {
		return nil, fmt.Errorf("version bridge: plugin config: %w", err)
	}
	conf["cniVersion"] = b.declared
	if prev, ok := conf["prevResult"].(map[string]interface{}); ok {
		prev["cniVersion"] = b.declared
	}
	return json.Marshal(conf)
}

// relabelResult changes a result's cniVersion from one label to another; a
// result in any other version is passed on unchanged for libcni to judge.
func relabelResult(out []byte, from, to string) ([]byte, error) {
	res, err := decodeObject(out)
	if err != nil {
		return out, nil // let libcni report the malformed output
	}
	if v, _ := res["cniVersion"].(string); v != from {
		return out, nil
	}
	res["cniVersion"] = to
	return json.Marshal(res)
}

// setVersionField overwrites the top-level cniVersion of a JSON object.
func setVersionField(raw []byte, v string) ([]byte, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	obj["cniVersion"] = v
	return json.Marshal(obj)
}

// decodeObject parses a JSON object keeping numbers exactly as written.
func decodeObject(raw []byte) (map[string]interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]interface{}
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return obj, nil
}

// lastEnvValue returns the value of the last NAME= entry (later entries win).
func lastEnvValue(environ []string, name string) string {
	prefix := name + "="
	value := ""
	for _, kv := range environ {
		if strings.HasPrefix(kv, prefix) {
			value = kv[len(prefix):]
		}
	}
	return value
}
