// Package freeport picks a loopback TCP port for a server that another
// process (or a later step) will bind: tests that start real binaries on
// ports they name, and the benchmark tools.
//
// The usual trick, listening on 127.0.0.1:0 and closing, returns a port from
// the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 by
// default). That range is also where every outgoing connection's source
// port comes from, so on a busy machine the port is often taken by some
// client's connection before the server binds it, and the server fails with
// "address already in use" — after a restart in particular, when the port
// must be free a second time. Pick draws from below the ephemeral range
// instead, where the kernel never hands out ports by itself, and checks
// the port is free now by binding it on the loopback and the wildcard
// address. Ports already returned by this process are not returned again.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// low is the first port Pick considers: above the registered ports most
// services on a development machine listen on.
const low = 20000

// fallbackEphemeralLow is Linux's default start of the ephemeral range.
const fallbackEphemeralLow = 32768

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Pick returns a port that is free on 127.0.0.1 and outside the ephemeral
// range. It fails only when hundreds of random candidates are all taken.
func Pick() (int, error) {
	high := ephemeralLow()
	if high <= low+100 {
		return 0, fmt.Errorf("freeport: ephemeral range starts at %d, leaving no room below it", high)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 500 {
		p := low + rand.IntN(high-low)
		if issued[p] || !free(p) {
			continue
		}
		issued[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port found below the ephemeral range after 500 tries")
}

// MustPick is Pick for tests: it calls fatal (t.Fatal) on failure.
func MustPick(fatal func(args ...any)) int {
	p, err := Pick()
	if err != nil {
		fatal(err)
	}
	return p
}

// free reports whether p can be bound on the loopback and on the wildcard
// address (a server on 0.0.0.0:p would take the loopback's connections).
func free(p int) bool {
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// ephemeralLow reads the start of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallbackEphemeralLow
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return fallbackEphemeralLow
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= 0 {
		return fallbackEphemeralLow
	}
	return n
}
