package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/internal/secretfile"
	"github.com/edgeplane/edge/wire"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "268435456": 256 << 20, "256MiB": 256 << 20,
		"1GiB": 1 << 30, "65536KiB": 64 << 20, "33554432B": 32 << 20, " 128MiB ": 128 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"256M", "-1", "1.5GiB", "lots", "1MiB", "99999999999GiB"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

// TestExampleConfig reads deploy/config/agent.json, which install.sh ships,
// with the agent's own configuration code, installed with the mode
// install.sh gives it (0640: the DSN holds a password).
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../deploy/config/agent.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Chmod(path, 0o640) // root's file, the service's group may read it
	}
	var c runConfig
	if err := c.load(path); err != nil {
		t.Fatal(err)
	}
	if c.ID != "pi-kitchen-1" || c.Broker == "" || len(c.Trust) != 1 || c.DB["orders-mysql"] == "" || c.Labels["site"] != "kitchen" {
		t.Errorf("example config read as %+v", c)
	}
	c.Board = "rpi4"
	p, _, err := c.applyBoard()
	if err != nil {
		t.Fatalf("applyBoard: %v", err)
	}
	if p.Name != "rpi4" || c.Pool != 2 || c.MemoryPages != 1024 || c.WorkerMemory != "256MiB" {
		t.Errorf("rpi4 profile applied as pool %d, pages %d, worker %s", c.Pool, c.MemoryPages, c.WorkerMemory)
	}
	// On a machine that is not the board, validation stops at the files the
	// example points to, with a message naming them.
	if _, _, err := c.validate(); err == nil || !strings.Contains(err.Error(), "/etc/edge-agent/") {
		t.Errorf("validate() = %v, want an error about /etc/edge-agent/ files", err)
	}
}

// TestConfigRefused: bad configuration files and overrides are refused
// with a message naming the problem.
func TestConfigRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name, body, want string
	}{
		{"unknown.json", `{"id":"a","brokr":"tcp://x"}`, `unknown field "brokr"`},
		{"broken.json", `{"id":`, "unexpected EOF"},
		{"type.json", `{"pool":"four"}`, "cannot unmarshal"},
	} {
		var c runConfig
		if err := c.load(write(tt.name, tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	for _, c := range []runConfig{
		{Board: "visionfive2", Engine: "compiler"},
		{Board: "rpi-zero-2w", MemoryPages: 65536},
		{Board: "nope"},
		{Board: "rpi4", WorkerMemory: "1MiB"},
	} {
		if _, _, err := c.applyBoard(); err == nil {
			t.Errorf("applyBoard(%+v) accepted it", c)
		}
	}
}

// TestValidateRefuses: settings that would only fail later (a broker URL
// with a doubled scheme connects nowhere, silently) are refused at start.
func TestValidateRefuses(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := wire.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "edge.pub")
	if err := os.WriteFile(keyFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	good := runConfig{ID: "pi-1", Broker: "tcp://127.0.0.1:1884", Data: t.TempDir(), Trust: []string{keyFile},
		Engine: "auto", Grace: "5s", HeartbeatTimeout: "300ms", MetricsInterval: "10s", AdminAddr: "127.0.0.1:9101"}
	if _, _, err := good.validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, ok := range []func(*runConfig){
		func(c *runConfig) { c.MetricsInterval = "0" }, // no metrics
		func(c *runConfig) { c.AdminAddr = "[::1]:9101" },
		func(c *runConfig) { c.AdminAddr = "localhost:9101" },
		func(c *runConfig) { c.AdminAddr = "" },
	} {
		c := good
		ok(&c)
		if _, _, err := c.validate(); err != nil {
			t.Errorf("valid config refused: %v", err)
		}
	}
	for _, tt := range []struct {
		name string
		edit func(*runConfig)
		want string
	}{
		{"doubled scheme", func(c *runConfig) { c.Broker = "tcp://tcp://127.0.0.1:1884" }, "--broker"},
		{"no scheme", func(c *runConfig) { c.Broker = "127.0.0.1:1884" }, "--broker"},
		{"http broker", func(c *runConfig) { c.Broker = "http://controller:7080" }, "--broker"},
		{"heartbeat too short", func(c *runConfig) { c.HeartbeatTimeout = "10ms" }, "--heartbeat-timeout"},
		{"heartbeat garbage", func(c *runConfig) { c.HeartbeatTimeout = "soon" }, "--heartbeat-timeout"},
		{"bad id", func(c *runConfig) { c.ID = "a/b" }, "--id"},
		{"no trust", func(c *runConfig) { c.Trust = nil }, "--trust"},
		{"metrics interval garbage", func(c *runConfig) { c.MetricsInterval = "often" }, "--metrics-interval"},
		{"metrics interval negative", func(c *runConfig) { c.MetricsInterval = "-10s" }, "--metrics-interval"},
		{"metrics interval too short", func(c *runConfig) { c.MetricsInterval = "10ms" }, "--metrics-interval"},
		{"admin on every interface", func(c *runConfig) { c.AdminAddr = "0.0.0.0:9101" }, "--admin-addr"},
		{"admin on a LAN address", func(c *runConfig) { c.AdminAddr = "192.168.1.10:9101" }, "--admin-addr"},
		{"admin without a host", func(c *runConfig) { c.AdminAddr = ":9101" }, "--admin-addr"},
		{"admin on a name", func(c *runConfig) { c.AdminAddr = "controller:9101" }, "--admin-addr"},
		{"admin without a port", func(c *runConfig) { c.AdminAddr = "127.0.0.1" }, "--admin-addr"},
		{"sqlite in a missing folder", func(c *runConfig) {
			c.DB = map[string]string{"local": "sqlite:" + filepath.Join(c.Data, "nonexist", "x.db")}
		}, "nonexist"},
		{"bogus dsn", func(c *runConfig) { c.DB = map[string]string{"local": "bogus:/x"} }, "--db local"},
		// Labels follow the rules of central ones (F17: accepted unchecked).
		{"label with markup", func(c *runConfig) { c.Labels = map[string]string{"x": "<img src=x onerror=alert(1)>"} }, "--label"},
		{"label key with a space", func(c *runConfig) { c.Labels = map[string]string{"bad label": "v"} }, "--label"},
	} {
		c := good
		tt.edit(&c)
		if _, _, err := c.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %s", tt.name, err, tt.want)
		}
	}
}

// TestConfigSecretMode: a --config that holds a password (the broker's, or
// one in a database DSN) is a secret file; one that only names the
// password file may be readable by others, as agent.json's example is.
func TestConfigSecretMode(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, body string
		refused    bool
	}{
		{"password.json", `{"id":"a","password":"pw"}`, true},
		{"dsn.json", `{"id":"a","db":{"main":"mysql://orders:pw@db:3306/orders"}}`, true},
		{"dsn-nopw.json", `{"id":"a","db":{"main":"mysql://orders@db:3306/orders"}}`, false},
		{"file.json", `{"id":"a","password_file":"/etc/edge-agent/password"}`, false},
	} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
		var c runConfig
		err := c.load(p)
		if got := errors.Is(err, secretfile.ErrExposed); got != tt.refused {
			t.Errorf("%s of mode 0644: %v, want refused: %v", tt.name, err, tt.refused)
		}
		if tt.refused && !strings.Contains(fmt.Sprint(err), "chmod 600 "+p) {
			t.Errorf("%s: %v, want the fix named", tt.name, err)
		}
		os.Chmod(p, 0o600)
		if err := new(runConfig).load(p); err != nil {
			t.Errorf("%s of mode 0600: %v", tt.name, err)
		}
	}
}
