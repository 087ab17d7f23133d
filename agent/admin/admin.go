// Package admin is the agent's local admin endpoint: HTTP on a unix socket
// in the agent's data folder (DATA/admin.sock, mode 0600, in a folder of
// mode 0700), so only the agent's own user (and root) can reach it and
// nothing is exposed on the network. `edge-agent status` reads GET /status
// from it; the agent adds GET /metrics (Prometheus) with Handle, and
// ServeMetricsTCP serves /metrics alone on a loopback TCP address
// (edge-agent run --admin-addr); CheckLoopback refuses any other.
//
// Only one agent may use a data folder: Listen refuses when another agent
// answers on the socket, and removes a socket left by one that died.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// SocketName is the socket's name in the data folder.
const SocketName = "admin.sock"

// maxSocketPath is the longest path a unix socket may have on Linux
// (sun_path, less the terminating NUL).
const maxSocketPath = 107

// ErrInUse is returned by Listen when another agent serves the socket.
var ErrInUse = errors.New("another edge-agent is running with this data folder")

// Server is the admin endpoint.
type Server struct {
	mux   *http.ServeMux
	srv   *http.Server
	ln    net.Listener
	path  string
	extra []*http.Server // ServeMetricsTCP
}

// SocketPath returns the admin socket of the data folder dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// Listen binds the admin socket of data folder dir.
func Listen(dir string, log *slog.Logger) (*Server, error) {
	path := SocketPath(dir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket %s: path longer than %d bytes; use a shorter --data", path, maxSocketPath)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	s := &Server{mux: http.NewServeMux(), ln: ln, path: path}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handle adds a route (http.ServeMux patterns, e.g. "GET /status").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleJSON adds a GET route answering what get returns, as JSON.
func (s *Server) HandleJSON(path string, get func() any) {
	s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(get())
	})
}

// CheckLoopback checks that addr (host:port) is on a loopback interface:
// 127.0.0.0/8, ::1 or localhost. The admin endpoint must not be reachable
// from the network.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want 127.0.0.1:PORT: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number", addr, port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// ErrNotLoopback is wrapped by CheckLoopback's error for an address that
// other machines could reach.
var ErrNotLoopback = errors.New("not a loopback address: the admin endpoint never listens on the network")

// ServeMetricsTCP serves h as GET /metrics, and nothing else, on the
// loopback address addr until the server is closed or ctx ends; it returns
// the address it listens on. /status stays on the socket, whose mode
// keeps other local users out.
func (s *Server) ServeMetricsTCP(ctx context.Context, addr string, h http.Handler) (string, error) {
	if err := CheckLoopback(addr); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() { // "localhost" resolved elsewhere
		ln.Close()
		return "", fmt.Errorf("%q listens on %s: %w", addr, ip, ErrNotLoopback)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10, ErrorLog: s.srv.ErrorLog}
	go srv.Serve(ln)
	s.extra = append(s.extra, srv)
	go func() { <-ctx.Done(); srv.Close() }()
	return ln.Addr().String(), nil
}

// Serve serves until Close.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	for _, e := range s.extra {
		e.Close()
	}
	os.Remove(s.path)
	return err
}

// maxAnswer bounds what the client reads.
const maxAnswer = 4 << 20

// ErrNotRunning is returned by Get when no agent serves the socket.
var ErrNotRunning = errors.New("no edge-agent is running with this data folder")

// Get asks the agent with data folder dir for path and decodes the JSON
// answer into out.
func Get(ctx context.Context, dir, path string, out any) error {
	sock := SocketPath(dir)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w (%s: %v)", ErrNotRunning, sock, op.Err)
		}
		return fmt.Errorf("admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("admin %s: %w", path, err)
	}
	return nil
}
