// spawn: runs a CNI plugin N times in sequence, the way a runtime does (fork/exec, config on stdin, CNI_* in
// the environment), and reports the mean wall time and CPU per call. It replaces a shell loop, whose own
// fork of a large bash process costs about as much as a plugin call and would blur the comparison.
//
//	spawn -plugin PATH -command ADD -config FILE -n 300 [-first 0] [-id-prefix bench] [-ifname eth0]
//
// Call i gets CNI_CONTAINERID=<id-prefix><first+i>. Output: "wall_ms cpu_ms" (means per call).
// A call that exits non-zero stops the run with its output on stderr.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	plugin := flag.String("plugin", "", "plugin executable")
	command := flag.String("command", "ADD", "CNI_COMMAND")
	configPath := flag.String("config", "", "file with the network config (stdin of every call)")
	n := flag.Int("n", 100, "calls")
	first := flag.Int("first", 0, "number of the first container ID")
	prefix := flag.String("id-prefix", "bench", "container ID prefix")
	ifname := flag.String("ifname", "eth0", "CNI_IFNAME")
	netns := flag.String("netns", "/var/run/netns/bench", "CNI_NETNS")
	cniPath := flag.String("cni-path", "/usr/lib/cni", "CNI_PATH")
	flag.Parse()
	if *plugin == "" || *configPath == "" {
		fmt.Fprintln(os.Stderr, "usage: spawn -plugin PATH -config FILE [-command ADD] [-n N]")
		os.Exit(2)
	}
	config, err := os.ReadFile(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND=" + *command, "CNI_IFNAME=" + *ifname,
		"CNI_NETNS=" + *netns, "CNI_PATH=" + *cniPath}
	var wall, cpu time.Duration
	for i := 0; i < *n; i++ {
		cmd := exec.Command(*plugin)
		cmd.Env = append(base, fmt.Sprintf("CNI_CONTAINERID=%s%d", *prefix, *first+i))
		cmd.Stdin = bytes.NewReader(config)
		var out bytes.Buffer
		cmd.Stdout = &out
		start := time.Now()
		err := cmd.Run()
		wall += time.Since(start)
		if err != nil {
			fmt.Fprintf(os.Stderr, "call %d failed: %v\n%s", i, err, out.String())
			os.Exit(1)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	fmt.Printf("%.2f %.2f\n", float64(wall.Microseconds())/1000/float64(*n), float64(cpu.Microseconds())/1000/float64(*n))
}
