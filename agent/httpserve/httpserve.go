// Package httpserve is the HTTP server in front of a module, shared by
// `edge-agent serve` and the worker processes of `edge-agent run`, so both
// bound what a client can hold in the same way:
//
//	headers    ReadHeaderTimeout (10 s), MaxHeaderBytes (64 KiB): else the
//	           connection is closed (431 for headers too large)
//	body       the module's handler (agent/wasmhost): size, time and the
//	           module's budget of buffered bodies; 413, 408 or 503
//	response   the handler sets a write deadline once the guest answered
//	idle       IdleTimeout (60 s) between requests on a keep-alive
//	           connection
//	conns      MaxConns (512) open connections; one more is answered 503
//	           with Retry-After and closed, so a flood of connections costs
//	           a bounded amount of memory (a connection costs ~20 KiB:
//	           goroutine and buffers)
//
// (net/http clears a connection's write deadline after each response, so
// the deadline the handler sets for one response never cuts the next.)
package httpserve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 512
)

// maxRefusing bounds the goroutines answering refused connections; beyond
// it a refused connection is closed without an answer.
const maxRefusing = 64

// Config of a Server. Zero fields take their defaults.
type Config struct {
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxConns          int
	Logger            *slog.Logger
	// ConnState is http.Server's hook, if set.
	ConnState func(net.Conn, http.ConnState)
}

func (c Config) withDefaults() Config {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves a handler under Config's limits.
type Server struct {
	cfg      Config
	srv      *http.Server
	open     atomic.Int64
	refused  atomic.Uint64
	refusing atomic.Int64
	lastWarn atomic.Int64 // UnixNano of the last "refusing" warning
}

// New returns a server for h.
func New(h http.Handler, cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ConnState:         cfg.ConnState,
	}
	return s
}

// Serve accepts connections on ln until Shutdown or Close; it returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(&limitListener{Listener: ln, s: s})
}

// ServePrivate serves a private listener (the supervisor's probe) whose
// connections neither count toward MaxConns nor are ever refused.
func (s *Server) ServePrivate(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting and waits, until ctx ends, for active requests.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes the listeners and every connection.
func (s *Server) Close() error { return s.srv.Close() }

// Open is the number of open connections.
func (s *Server) Open() int64 { return s.open.Load() }

// Refused is the number of connections refused over MaxConns.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// limitListener counts open connections and refuses those over MaxConns.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.s.open.Add(1); n <= int64(l.s.cfg.MaxConns) {
			return &countedConn{Conn: c, s: l.s}, nil
		}
		l.s.open.Add(-1)
		l.s.refuse(c)
	}
}

var refusal = func() []byte {
	body := `{"error":"too many connections"}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// refuse answers c with 503 and closes it, within a second.
func (s *Server) refuse(c net.Conn) {
	s.refused.Add(1)
	now := time.Now().UnixNano()
	if last := s.lastWarn.Load(); now-last > int64(10*time.Second) && s.lastWarn.CompareAndSwap(last, now) {
		s.cfg.Logger.Warn("refusing connections over the limit", "limit", s.cfg.MaxConns, "refused_total", s.refused.Load())
	}
	if s.refusing.Add(1) > maxRefusing {
		s.refusing.Add(-1)
		c.Close()
		return
	}
	go func() {
		defer s.refusing.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(refusal); err != nil {
			return
		}
		// Half-close and read what the client sent, so that closing does
		// not reset the connection before the client read the answer.
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// countedConn gives its slot back once, when it is closed.
type countedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.s.open.Add(-1) })
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close the connection after a response
// whose request body it did not read (so the client gets the response
// rather than a reset).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
