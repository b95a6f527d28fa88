// cnirun: runs a cnitool-compatible CLI once per line of stdin and prints each call's wall time, so a
// benchmark times the tool's own process (as a runtime would start it) and not the shell, nsenter and env
// processes a harness needs around it. Start it once inside the node's network namespace; every call
// inherits the namespace and this process's environment.
//
//	cnirun -tool PATH < calls      calls: one per line, "COMMAND NETWORK CONTAINER_ID NETNS [CAP_ARGS]"
//
// COMMAND is the tool's subcommand (add, del, check); CAP_ARGS, when present, is passed as CAP_ARGS.
// Output: one line per call, "COMMAND ms". A call that exits non-zero stops the run with its output on stderr.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	tool := flag.String("tool", "", "cnitool-compatible executable")
	flag.Parse()
	if *tool == "" {
		fmt.Fprintln(os.Stderr, "usage: cnirun -tool PATH < calls")
		os.Exit(2)
	}
	base := os.Environ()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for line := 1; in.Scan(); line++ {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 4 || len(fields) > 5 {
			fmt.Fprintf(os.Stderr, "line %d: want COMMAND NETWORK CONTAINER_ID NETNS [CAP_ARGS]\n", line)
			os.Exit(2)
		}
		env := append(append([]string(nil), base...), "CNI_CONTAINERID="+fields[2])
		if len(fields) == 5 {
			env = append(env, "CAP_ARGS="+fields[4])
		}
		cmd := exec.Command(*tool, fields[0], fields[1], fields[3])
		cmd.Env = env
		var output bytes.Buffer
		cmd.Stdout = &output
		cmd.Stderr = &output
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		if err != nil {
			out.Flush()
			fmt.Fprintf(os.Stderr, "line %d (%s %s) failed: %v\n%s", line, fields[0], fields[2], err, output.String())
			os.Exit(1)
		}
		fmt.Fprintf(out, "%s %.3f\n", fields[0], float64(elapsed.Nanoseconds())/1e6)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
