package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports come from below the ephemeral range, are bindable, and are not
// handed out twice by one process.
func TestPickOutsideEphemeralRange(t *testing.T) {
	high := ephemeralLow()
	seen := map[int]bool{}
	for range 200 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if p < low || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, low, high)
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
	p := MustPick(t.Fatal)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("picked port %d cannot be bound: %v", p, err)
	}
	ln.Close()
}

// A port some server already holds is never returned: fill the candidates
// with a held port by making it the only one left is impractical, so check
// free() directly on a held port, on both addresses it guards.
func TestHeldPortIsNotFree(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		if free(p) {
			t.Errorf("port %d held on %s reported free", p, host)
		}
		ln.Close()
	}
}
