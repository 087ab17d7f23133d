package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

// TestLooseSecretFiles: a review found that edgectl --token-file and
// edge-agent --password-file accepted a file every user could read (mode
// 0644). Every secret the three programs read from a file is now refused
// when others may read it, with one line naming the file, its mode and
// the fix, as ssh refuses an unprotected private key (internal/secretfile).
func TestLooseSecretFiles(t *testing.T) {
	dir := t.TempDir()
	loose := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := t.TempDir()
	if _, errOut, code := edgectl(t, "keygen", "--out", keys); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	pub := filepath.Join(keys, "edge.pub")
	b, err := os.ReadFile(filepath.Join(keys, "edge.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := loose("edge.key", string(b))
	token := loose("token", "some-token\n")
	password := loose("pw", "some-password\n")
	conf := loose("agent.json", `{"id": "d1", "broker": "tcp://127.0.0.1:1", "password": "some-password", "trust": ["`+pub+`"], "data": "`+filepath.Join(dir, "agent")+`"}`)
	ca := harness.NewCA(t, "edge test CA")
	cert, certKey := ca.Issue(t, "127.0.0.1", harness.CertOptions{})
	os.Chmod(certKey, 0o644)
	data := t.TempDir()
	adminToken := filepath.Join(data, "admin.token")
	os.WriteFile(adminToken, []byte("tok\n"), 0o644)
	os.Chmod(adminToken, 0o644)

	control, agent, ctl := bin(t, "edge-control"), bin(t, "edge-agent"), bin(t, "edgectl")
	tests := []struct {
		name string
		prog string
		args []string
		code int
		file string
	}{
		{"edgectl --token-file", ctl, []string{"devices", "--token-file", token, "--control", "http://127.0.0.1:1"}, 1, token},
		{"edgectl push --key", ctl, []string{"push", bin(t, "orders.wasm"), "--key", key, "--version", "1.0.0", "--port", "8080", "--node", "a", "--control", "http://127.0.0.1:1"}, 1, key},
		{"agent run --password-file", agent, []string{"run", "--id", "d1", "--broker", "tcp://127.0.0.1:1", "--trust", pub, "--password-file", password, "--data", t.TempDir()}, 2, password},
		{"agent run --config holding a password", agent, []string{"run", "--config", conf}, 2, conf},
		{"agent run --key", agent, []string{"run", "--id", "d1", "--broker", "ssl://127.0.0.1:1", "--trust", pub, "--ca-file", ca.File, "--cert", cert, "--key", certKey, "--data", t.TempDir()}, 2, certKey},
		{"control --tls-key", control, []string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", certKey}, 2, certKey},
		{"control DATA/admin.token", control, []string{"--data", data, "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, 2, adminToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr, _ := runToExit(t, 30*time.Second, tt.prog, tt.args...)
			prefix := filepath.Base(tt.prog)
			last := errorLine(stderr, prefix)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, stderr)
			}
			for _, w := range []string{tt.file, "mode 0644", "chmod 600 " + tt.file} {
				if !strings.Contains(last, w) {
					t.Errorf("last line %q does not say %q", last, w)
				}
			}
		})
	}
}
