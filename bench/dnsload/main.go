// dnsload: a closed-loop DNS load generator for bench/resolver.sh. Each of -c workers owns a UDP socket and
// sends one A query at a time for a name drawn in turn from -names (one per line), waiting for the answer
// (timeout -timeout) before the next. Prints one line: queries, errors, qps, p50 and p99 latency (ms).
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func query(id uint16, name string) []byte {
	b := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[2:], 0x0100)
	binary.BigEndian.PutUint16(b[4:], 1)
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

func main() {
	server := flag.String("s", "127.0.0.1:53", "server address:port")
	namesFile := flag.String("names", "", "file with one name per line")
	conc := flag.Int("c", 8, "concurrent workers")
	dur := flag.Duration("d", 5*time.Second, "duration")
	timeout := flag.Duration("timeout", 2*time.Second, "per-query timeout")
	wantRcode := flag.Int("rcode", 0, "the response code an answer must carry to count as a success")
	flag.Parse()

	f, err := os.Open(*namesFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			names = append(names, t)
		}
	}
	f.Close()
	if len(names) == 0 {
		fmt.Fprintln(os.Stderr, "no names")
		os.Exit(2)
	}

	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.Dial("udp", *server)
			if err != nil {
				mu.Lock()
				errors++
				mu.Unlock()
				return
			}
			defer conn.Close()
			buf := make([]byte, 4096)
			var mine []time.Duration
			bad := 0
			for i := w; time.Now().Before(deadline); i += *conc {
				id := uint16(i)
				q := query(id, names[i%len(names)])
				t0 := time.Now()
				conn.SetDeadline(t0.Add(*timeout))
				if _, err := conn.Write(q); err != nil {
					bad++
					continue
				}
				for {
					n, err := conn.Read(buf)
					if err != nil {
						bad++
						break
					}
					if n < 12 || binary.BigEndian.Uint16(buf) != id {
						continue
					}
					if int(buf[3]&0xf) != *wantRcode {
						bad++
					} else {
						mine = append(mine, time.Since(t0))
					}
					break
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += bad
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	fmt.Printf("queries %d errors %d qps %.0f p50_ms %.3f p99_ms %.3f\n", len(lat), errors, float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99))
}
