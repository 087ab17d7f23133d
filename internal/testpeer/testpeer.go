// Package testpeer provides network peers for tests: a server that
// accepts TCP connections and never answers (a database or web service
// that hangs, a firewall that accepts and drops), which can be switched to
// relay to a real server so a test can watch recovery, and a plain HTTP
// server on a free port.
package testpeer

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// Silent is a TCP server on 127.0.0.1 that accepts and says nothing.
type Silent struct {
	ln      net.Listener
	forward atomic.Pointer[string]
	mu      sync.Mutex
	conns   []net.Conn
}

// NewSilent starts a silent server; it stops when the test ends.
func NewSilent(t testing.TB) *Silent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Silent{ln: ln}
	t.Cleanup(s.close)
	go s.accept()
	return s
}

// Addr is the server's host:port.
func (s *Silent) Addr() string { return s.ln.Addr().String() }

// Forward makes the connections accepted from now on relay to addr, a
// real server: the peer "comes back". Connections already held stay
// silent.
func (s *Silent) Forward(addr string) { s.forward.Store(&addr) }

func (s *Silent) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		if to := s.forward.Load(); to != nil {
			go relay(c, *to)
		}
	}
}

func (s *Silent) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func relay(c net.Conn, to string) {
	up, err := net.Dial("tcp", to)
	if err != nil {
		c.Close()
		return
	}
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// HTTPServer serves h on 127.0.0.1 until the test ends and returns its
// host:port.
func HTTPServer(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
