package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryFlags(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgFile, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // "" for valid
	}{
		{"none", nil, ""},
		{"all", []string{"--registry-config", cfgFile, "--registry-allow", "ghcr.io", "--registry-allow", "registry.lan:5000", "--registry-plain-http", "registry.lan:5000"}, ""},
		{"config missing", []string{"--registry-config", cfgFile + ".none"}, "--registry-config"},
		{"allow a URL", []string{"--registry-allow", "https://ghcr.io"}, `--registry-allow "https://ghcr.io": want HOST or HOST:PORT`},
		{"plain HTTP with a path", []string{"--registry-plain-http", "registry.lan/x"}, "--registry-plain-http"},
		{"allow empty", []string{"--registry-allow", ""}, "--registry-allow"},
	} {
		cfg := DefaultConfig()
		cfg.DataDir = "/tmp/unused"
		if err := ParseFlags(&cfg, tc.args, io.Discard); err != nil {
			t.Fatalf("%s: parse: %v", tc.name, err)
		}
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrConfig)):
			t.Errorf("%s: %v, want an ErrConfig with %q", tc.name, err, tc.want)
		}
	}
	cfg := DefaultConfig()
	cfg.RegistryConfig, cfg.RegistryAllow = cfgFile, []string{"ghcr.io"}
	if _, err := registryClient(cfg); err != nil {
		t.Errorf("registryClient: %v", err)
	}
}
