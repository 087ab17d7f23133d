package edgectl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edge/wire"
)

// createToken runs token create and returns the new token.
func createToken(t *testing.T, ctl, role, name string) wire.TokenCreated {
	t.Helper()
	code, out, errOut := run(t, "token", "create", "--role", role, "--name", name, "--json", ctl)
	var tc wire.TokenCreated
	if code != ExitOK || json.Unmarshal([]byte(out), &tc) != nil || tc.Secret == "" || tc.Role != role || tc.Name != name {
		t.Fatalf("token create --role %s --name %s: %d %s%s", role, name, code, out, errOut)
	}
	return tc
}

// noConfig points EDGECTL_CONFIG at an empty config file: no token,
// controller or CA from the operator's own file.
func noConfig(t *testing.T) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGECTL_CONFIG", p)
}

// TestTokenCommands: create, list and revoke against a real controller,
// what a read token may do, and the bad input tried by hand: no role, a
// role that does not exist, a bad name, a revoked token, revoking the last
// admin token, revoking twice, an id that is no token's.
func TestTokenCommands(t *testing.T) {
	noConfig(t)
	s := startControl(t, nil)
	ctl := "--control=" + s.URL()
	read := createToken(t, ctl, "read", "grafana")

	file := filepath.Join(t.TempDir(), "prom.token")
	code, out, errOut := run(t, "token", "create", "--role", "read", "--name", "prometheus", "--out", file, ctl)
	st, err := os.Stat(file)
	if code != ExitOK || err != nil || st.Mode().Perm() != 0o600 || strings.Contains(out, "edge_") {
		t.Fatalf("token create --out: %d %q %q, file %v (want 0600, and the token not printed)", code, out, errOut, err)
	}
	// Never over an existing file (it may hold a token in use), and no
	// token is created then: before, the file was replaced and the token
	// it held stayed valid with nobody holding it (a new user's trial).
	held, _ := os.ReadFile(file)
	code, _, errOut = run(t, "token", "create", "--role", "read", "--name", "prometheus", "--out", file, ctl)
	if now, _ := os.ReadFile(file); code != ExitFailed || !strings.Contains(errOut, "exists; it is never overwritten") || string(now) != string(held) {
		t.Errorf("token create --out onto an existing file: %d %q, file changed %v", code, errOut, string(now) != string(held))
	}
	code, out, _ = run(t, "token", "list", ctl)
	if code != ExitOK || !strings.Contains(out, "grafana") || !strings.Contains(out, "prometheus") || !strings.Contains(out, "admin") {
		t.Errorf("token list: %d\n%s", code, out)
	}
	if n := strings.Count(out, "prometheus"); n != 1 {
		t.Errorf("token list shows %d tokens named prometheus, want 1 (no token for a file that was not written)\n%s", n, out)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create", "--name", "x"}, "--role read or --role admin"},
		{[]string{"token", "create", "--role", "root", "--name", "x"}, `--role "root": want read or admin`},
		{[]string{"token", "create", "--role", "read", "--name", "bad name"}, "invalid token name"},
		{[]string{"token", "create", "--role", "read"}, "invalid token name"},
		{[]string{"token", "revoke"}, "missing ID"},
	} {
		if code, _, errOut := run(t, append(tt.args, ctl)...); code != ExitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: %d %q, want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}

	// A read token watches but changes nothing, and lists no tokens.
	t.Setenv("EDGE_TOKEN", read.Secret)
	if code, _, errOut := run(t, "devices", ctl); code != ExitOK {
		t.Errorf("devices with a read token: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"device", "add", "pi-1"}, {"token", "list"}, {"token", "create", "--role", "admin", "--name", "me"}} {
		if code, _, errOut := run(t, append(args, ctl)...); code != ExitFailed || !strings.Contains(errOut, "Forbidden: this needs") || strings.Contains(errOut, "Forbidden: forbidden") {
			t.Errorf("%q with a read token: %d %q, want 1 and Forbidden once", args, code, errOut)
		}
	}

	t.Setenv("EDGE_TOKEN", s.NewAdminToken())
	if code, out, errOut := run(t, "token", "revoke", read.ID, ctl); code != ExitOK || !strings.Contains(out, "revoked") {
		t.Errorf("token revoke: %d %s%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "token", "revoke", read.ID, ctl); code != ExitFailed || !strings.Contains(errOut, "Conflict") {
		t.Errorf("token revoke twice: %d %q, want 1 and Conflict", code, errOut)
	}
	if code, _, errOut := run(t, "token", "revoke", "nosuchtoken", ctl); code != ExitFailed || !strings.Contains(errOut, "Not Found") {
		t.Errorf("token revoke of an unknown id: %d %q, want 1 and Not Found", code, errOut)
	}
	t.Setenv("EDGE_TOKEN", read.Secret)
	if code, _, errOut := run(t, "devices", ctl); code != ExitFailed || !strings.Contains(errOut, "Unauthorized") || !strings.Contains(errOut, "token was refused") {
		t.Errorf("devices with a revoked token: %d %q, want 1, Unauthorized and a hint", code, errOut)
	}

	// The last admin token cannot be revoked: the operators would be locked out.
	t.Setenv("EDGE_TOKEN", s.NewAdminToken())
	code, out, _ = run(t, "token", "list", "--json", ctl)
	var ts []wire.Token
	if code != ExitOK || json.Unmarshal([]byte(out), &ts) != nil {
		t.Fatalf("token list --json: %d %s", code, out)
	}
	for _, tk := range ts {
		if tk.Role == "admin" {
			if code, _, errOut := run(t, "token", "revoke", tk.ID, ctl); code != ExitFailed || !strings.Contains(errOut, "last active admin token") {
				t.Errorf("revoke the last admin token: %d %q", code, errOut)
			}
		}
	}
}

// TestTokenSources: the token comes from --token-file, else EDGE_TOKEN,
// else the config file; the address from --control, else EDGE_CONTROL,
// else the config file. A config file others may read, or that is not
// the expected JSON, is refused; with no token at all the error says
// where edgectl looked.
func TestTokenSources(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.json")
	if err := os.WriteFile(conf, nil, 0o600); err != nil { // empty until writeConf
		t.Fatal(err)
	}
	t.Setenv("EDGECTL_CONFIG", conf)
	s := startControl(t, nil)
	ctl := "--control=" + s.URL()
	admin := s.NewAdminToken()
	read := createToken(t, ctl, "read", "grafana").Secret
	readFile := filepath.Join(dir, "read.token")
	if err := os.WriteFile(readFile, []byte(read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConf := func(c config, mode os.FileMode) {
		b, _ := json.Marshal(c)
		os.Remove(conf)
		if err := os.WriteFile(conf, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	// token list needs admin: it tells which token was sent.
	tokenList := func(args ...string) int {
		code, _, _ := run(t, append([]string{"token", "list"}, args...)...)
		return code
	}

	writeConf(config{Control: s.URL(), Token: read}, 0o600)
	t.Setenv("EDGE_TOKEN", "")
	if code, _, errOut := run(t, "devices"); code != ExitOK {
		t.Errorf("address and token from the config file: %d %s", code, errOut)
	}
	if got := tokenList(); got != ExitFailed {
		t.Errorf("token list with the config's read token: %d, want 1", got)
	}
	t.Setenv("EDGE_TOKEN", admin)
	if got := tokenList(); got != ExitOK {
		t.Errorf("EDGE_TOKEN (admin) over the config's read token: %d, want 0", got)
	}
	if got := tokenList("--token-file", readFile); got != ExitFailed {
		t.Errorf("--token-file (read) over EDGE_TOKEN (admin): %d, want 1", got)
	}
	if got := tokenList("--token-file", filepath.Join(dir, "none")); got != ExitFailed {
		t.Errorf("--token-file of a missing file: %d, want 1", got)
	}
	// An admin token others may read is refused, not used (secretfile).
	looseFile := filepath.Join(dir, "loose")
	if err := os.WriteFile(looseFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(looseFile, 0o644)
	if code, _, errOut := run(t, "token", "list", "--token-file", looseFile); code != ExitFailed || !strings.Contains(errOut, "chmod 600 "+looseFile) {
		t.Errorf("--token-file of mode 0644: %d %q, want 1 and a chmod hint", code, errOut)
	}
	t.Setenv("EDGE_CONTROL", "http://127.0.0.1:1")
	if got := tokenList(); got != ExitFailed {
		t.Errorf("EDGE_CONTROL over the config's address: %d, want 1 (nothing listens there)", got)
	}
	if got := tokenList(ctl); got != ExitOK {
		t.Errorf("--control over EDGE_CONTROL: %d, want 0", got)
	}

	writeConf(config{Control: s.URL(), Token: read}, 0o644)
	t.Setenv("EDGE_TOKEN", "")
	if code, _, errOut := run(t, "devices", ctl); code != ExitFailed || !strings.Contains(errOut, "mode 0644") || !strings.Contains(errOut, "chmod 600 "+conf) {
		t.Errorf("config file of mode 0644 with a token: %d %q, want 1 and a chmod hint", code, errOut)
	}
	if err := os.WriteFile(conf, []byte(`{"tokn": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "devices", ctl); code != ExitFailed || !strings.Contains(errOut, "config file") {
		t.Errorf("config file with an unknown key: %d %q", code, errOut)
	}
	writeConf(config{Control: s.URL()}, 0o644) // no token: readable is fine
	t.Setenv("EDGE_CONTROL", "")
	if code, _, errOut := run(t, "devices"); code != ExitFailed || !strings.Contains(errOut, "no token: set EDGE_TOKEN") {
		t.Errorf("no token anywhere: %d %q, want 1 and where edgectl looked", code, errOut)
	}
	// An EDGECTL_CONFIG that names no file is an error naming it (it was
	// ignored: the default controller, no token); the default path may
	// be missing.
	missing := filepath.Join(dir, "typo.json")
	t.Setenv("EDGECTL_CONFIG", missing)
	if code, _, errOut := run(t, "devices", ctl); code != ExitFailed || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "does not exist") {
		t.Errorf("EDGECTL_CONFIG naming a missing file: %d %q, want 1 naming it", code, errOut)
	}
	t.Setenv("EDGECTL_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("EDGE_TOKEN", read)
	if code, _, errOut := run(t, "devices", ctl); code != ExitOK {
		t.Errorf("no config file at the default path: %d %q, want 0", code, errOut)
	}
}
