package edgectl

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/control/server"
	"github.com/edgeplane/edge/tests/harness"
	"github.com/edgeplane/edge/wire"
)

// startControl starts a real controller on loopback; mod adjusts its
// configuration (TLS).
func startControl(t *testing.T, mod func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.MQTTAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	s, err := server.Start(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Setenv("EDGE_TOKEN", s.NewAdminToken()) // what edgectl authenticates with (config.go)
	return s
}

// TestDeviceLifecycle drives add, add again, --password-file, rotate and
// remove against a real controller, with the bad input tried by hand: an
// id registered already, an existing password file, a file in a folder
// that does not exist, a device never registered.
func TestDeviceLifecycle(t *testing.T) {
	s := startControl(t, nil)
	ctl := "--control=" + s.URL()
	dir := t.TempDir()

	code, out, _ := run(t, "device", "add", "pi-1", ctl)
	if code != ExitOK || !strings.Contains(out, "password: ") {
		t.Fatalf("device add: %d %q", code, out)
	}
	code, _, errOut := run(t, "device", "add", "pi-1", ctl)
	if code != ExitFailed || !strings.Contains(errOut, "already registered; for a new password run: edgectl device rotate pi-1") {
		t.Errorf("device add twice: %d %q, want 1 and a pointer at rotate", code, errOut)
	}

	pwFile := filepath.Join(dir, "pi-2.password")
	code, out, errOut = run(t, "device", "add", "pi-2", "--password-file", pwFile, ctl)
	if code != ExitOK || strings.Contains(out+errOut, "password: ") || !strings.Contains(out, "password-file: "+pwFile) {
		t.Fatalf("device add --password-file: %d stdout %q stderr %q (the password must not be printed)", code, out, errOut)
	}
	st, err := os.Stat(pwFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v, want 0600", err, st.Mode())
	}
	first, _ := os.ReadFile(pwFile)
	if len(strings.TrimSpace(string(first))) < 40 {
		t.Errorf("password file holds %q", first)
	}

	// An existing file is never overwritten, and costs no registration.
	code, _, errOut = run(t, "device", "add", "pi-3", "--password-file", pwFile, ctl)
	if code != ExitFailed || !strings.Contains(errOut, "exists; it is never overwritten") {
		t.Errorf("device add onto an existing file: %d %q", code, errOut)
	}
	if again, _ := os.ReadFile(pwFile); string(again) != string(first) {
		t.Error("the existing password file was changed")
	}
	code, _, errOut = run(t, "device", "add", "pi-3", "--password-file", filepath.Join(dir, "missing", "f"), ctl)
	if code != ExitFailed || !strings.Contains(errOut, "--password-file") {
		t.Errorf("device add into a missing folder: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "device", "add", "pi-3", ctl); code != ExitOK {
		t.Errorf("pi-3 was registered by a refused add: a later add exits %d", code)
	}
	// A refused registration leaves no empty password file behind.
	refused := filepath.Join(dir, "refused")
	if code, _, _ := run(t, "device", "add", "pi-1", "--password-file", refused, ctl); code != ExitFailed {
		t.Errorf("device add of a registered id with --password-file: %d", code)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("a refused add left %s: %v", refused, err)
	}

	rotated := filepath.Join(dir, "pi-2.rotated")
	code, _, errOut = run(t, "device", "rotate", "pi-2", "--password-file", rotated, ctl)
	second, _ := os.ReadFile(rotated)
	if code != ExitOK || len(second) == 0 || string(second) == string(first) {
		t.Errorf("device rotate: %d %q, new password %q", code, errOut, second)
	}
	// The agent keeps its old password until someone gives it the new one:
	// rotate says how (it used to say nothing).
	for _, says := range []string{"pi-2's agent is locked out", "--password-file", rotated + " /etc/edge-agent/password", "systemctl restart edge-agent"} {
		if !strings.Contains(errOut, says) {
			t.Errorf("device rotate: stderr %q does not say %q", errOut, says)
		}
	}
	code, _, errOut = run(t, "device", "rotate", "pi-9", ctl)
	if code != ExitFailed || !strings.Contains(errOut, "pi-9 is not registered") {
		t.Errorf("rotate an unknown device: %d %q", code, errOut)
	}

	code, out, errOut = run(t, "device", "remove", "pi-2", ctl, "--json")
	var rm wire.DeviceRemoval
	if err := json.Unmarshal([]byte(out), &rm); code != ExitOK || err != nil || rm.ID != "pi-2" || len(rm.Cleared) != 2 {
		t.Errorf("device remove --json: %d %q %q", code, out, errOut)
	}
	code, _, errOut = run(t, "device", "remove", "pi-2", ctl)
	if code != ExitFailed || !strings.Contains(errOut, "Not Found") {
		t.Errorf("remove twice: %d %q", code, errOut)
	}
	code, out, _ = run(t, "devices", "--json", ctl)
	if code != ExitOK || strings.Contains(out, `"pi-2"`) || !strings.Contains(out, `"pi-1"`) {
		t.Errorf("devices after removing pi-2: %s", out)
	}
	if code, _, _ := run(t, "device", "remove", "bad id", ctl); code != ExitUsage {
		t.Errorf("remove an invalid id: %d, want 2", code)
	}
}

// TestGlobalFlags: the controller flags may come before the command, in
// both forms, and mix with the command's own.
func TestGlobalFlags(t *testing.T) {
	s := startControl(t, nil)
	for _, args := range [][]string{
		{"--control", s.URL(), "device", "add", "pi-1"},
		{"--control=" + s.URL(), "--json", "devices"},
		{"-control", s.URL(), "devices", "--json"},
		{"--json", "--control", s.URL(), "device", "show", "pi-1"},
	} {
		if code, out, errOut := run(t, args...); code != ExitOK {
			t.Errorf("edgectl %q: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, _ := run(t, "--json", "--version")
	if code != ExitOK || !strings.Contains(out, `"program": "edgectl"`) && !strings.Contains(out, `"program":"edgectl"`) {
		t.Errorf("edgectl --json --version: %d %q", code, out)
	}
}

// TestHTTPS: edgectl against an HTTPS controller, with and without the
// CA, through the flag, the environment and the config file; the bad
// input tried by hand:
// no CA, another CA, an expired certificate, http:// against the HTTPS
// port, https:// against a plain controller, --ca-file with http://, a CA
// file that holds no certificate.
func TestHTTPS(t *testing.T) {
	ca := harness.NewCA(t, "test CA")
	other := harness.NewCA(t, "another CA")
	cert, key := ca.Issue(t, "controller", harness.CertOptions{})
	s := startControl(t, func(c *server.Config) { c.TLS.Cert, c.TLS.Key = cert, key })
	url := s.URL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("URL %s", url)
	}
	if code, out, errOut := run(t, "--control", url, "--ca-file", ca.File, "device", "add", "pi-1"); code != ExitOK {
		t.Fatalf("with --ca-file: %d %s%s", code, out, errOut)
	}
	t.Setenv("EDGE_CA_FILE", ca.File)
	t.Setenv("EDGE_CONTROL", url)
	if code, _, errOut := run(t, "devices"); code != ExitOK {
		t.Errorf("with EDGE_CA_FILE: %d %s", code, errOut)
	}
	t.Setenv("EDGE_CA_FILE", "")
	conf := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(conf, []byte(`{"ca_file": "`+ca.File+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGECTL_CONFIG", conf)
	if code, _, errOut := run(t, "devices"); code != ExitOK {
		t.Errorf("with the config file's ca_file: %d %s", code, errOut)
	}
	noConfig(t)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no CA", []string{"devices"}, ExitFailed, "not signed by a CA this client trusts: give its CA with --ca-file or EDGE_CA_FILE"},
		{"another CA", []string{"devices", "--ca-file", other.File}, ExitFailed, "give its CA with --ca-file"},
		{"http:// to the HTTPS port", []string{"devices", "--control", "http://" + s.HTTPAddr()}, ExitFailed, "the controller serves HTTPS: use https://"},
		{"--ca-file with http://", []string{"devices", "--control", "http://" + s.HTTPAddr(), "--ca-file", ca.File}, ExitUsage, "the controller address must be https://"},
		{"CA file without a certificate", []string{"devices", "--ca-file", key}, ExitUsage, "no PEM certificate"},
		{"missing CA file", []string{"devices", "--ca-file", "/nonexistent/ca.pem"}, ExitUsage, "/nonexistent/ca.pem"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, errOut, tc.code, tc.want)
		}
	}

	plain := startControl(t, nil)
	code, _, errOut := run(t, "devices", "--control", "https://"+plain.HTTPAddr(), "--ca-file", ca.File)
	if code != ExitFailed || !strings.Contains(errOut, "answers plain HTTP: use http://") {
		t.Errorf("https:// against a plain controller: %d %q", code, errOut)
	}

	expCert, expKey := ca.Issue(t, "controller", harness.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	expired := startControl(t, func(c *server.Config) { c.TLS.Cert, c.TLS.Key = expCert, expKey })
	code, _, errOut = run(t, "devices", "--control", expired.URL(), "--ca-file", ca.File)
	if code != ExitFailed || !strings.Contains(errOut, "has expired or is not valid yet") {
		t.Errorf("expired certificate: %d %q", code, errOut)
	}
}

// TestPrintRemoval: device remove names the deployments and rollouts the
// device was in (it said nothing of them: FINDINGS-1 F13).
func TestPrintRemoval(t *testing.T) {
	for _, tc := range []struct {
		rm   wire.DeviceRemoval
		want []string
		not  []string
	}{
		{wire.DeviceRemoval{ID: "pi-2", SessionClosed: true, Cleared: []string{"a", "b"}},
			[]string{"device pi-2 removed", "its live session was closed", "2 retained topics cleared"}, []string{"rollout", "deployment"}},
		{wire.DeviceRemoval{ID: "pi-2", Deployments: []string{"d-1-w2"}, Rollouts: []string{"r-1"}},
			[]string{"its part ended (removed) in 1 unfinished deployment: d-1-w2", "rollout goes on without it: r-1"}, nil},
		{wire.DeviceRemoval{ID: "pi-2", Deployments: []string{"d-1", "d-2"}, Rollouts: []string{"r-1", "r-2"}},
			[]string{"2 unfinished deployments: d-1, d-2", "rollouts go on without it: r-1, r-2"}, nil},
	} {
		var b strings.Builder
		printRemoval(&b, &tc.rm)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%+v: %q lacks %q", tc.rm, b.String(), w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(b.String(), w) {
				t.Errorf("%+v: %q says %q", tc.rm, b.String(), w)
			}
		}
	}
}
