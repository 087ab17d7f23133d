package ociwasm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeplane/edge/internal/secretfile"
)

// TestConfigFileMode: a Docker config.json that holds credentials is a
// secret file; one that only names a credential helper is not.
func TestConfigFileMode(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body string
		mode       os.FileMode
		exposed    bool
	}{
		{"auth, 0600", `{"auths": {"r.example": {"auth": "dTpw"}}}`, 0o600, false},
		{"auth, 0644", `{"auths": {"r.example": {"auth": "dTpw"}}}`, 0o644, true},
		{"identity token, 0640 of root", `{"auths": {"r.example": {"identitytoken": "t"}}}`, 0o640, os.Geteuid() != 0},
		{"identity token, 0604", `{"auths": {"r.example": {"identitytoken": "t"}}}`, 0o604, true},
		{"credential helper only, 0644", `{"credsStore": "pass", "auths": {"r.example": {}}}`, 0o644, false},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, "config"+string(rune('a'+i))+".json")
		if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, tt.mode)
		_, err := NewClient(Options{ConfigFile: p})
		if got := errors.Is(err, secretfile.ErrExposed); got != tt.exposed {
			t.Errorf("%s: NewClient: %v, want refused: %v", tt.name, err, tt.exposed)
		}
	}
}
