package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Manifest)
		ok     bool
	}{
		{"valid", func(m *Manifest) {}, true},
		{"valid sqlite, limits, probe, prerelease", func(m *Manifest) {
			m.Bindings.DB = "sqlite"
			m.Limits = Limits{MemoryPages: 256, DeadlineMS: 200, BodyBytes: 1 << 20, Pool: 4}
			m.Probe.Path = "/healthz"
			m.Version = "2.0.0-rc.1+build.5"
		}, true},
		{"valid named db", func(m *Manifest) { m.Bindings.DB = "orders-db" }, true},
		{"schema 0", func(m *Manifest) { m.Schema = 0 }, false},
		{"schema 3 without a platform capability", func(m *Manifest) { m.Schema = 3 }, true},
		{"schema 4", func(m *Manifest) { m.Schema = 4 }, false},
		{"kv in schema 2", func(m *Manifest) { m.Schema = 2; m.Epoch = 1; m.Capabilities.KV = &KVGrant{} }, false},
		{"kv in schema 3", func(m *Manifest) { m.Schema = 3; m.Capabilities.KV = &KVGrant{MaxKeys: 5} }, true},
		{"negative kv quota", func(m *Manifest) { m.Schema = 3; m.Capabilities.KV = &KVGrant{MaxBytes: -1} }, false},
		{"call", func(m *Manifest) { m.Schema = 3; m.Capabilities.Call = []string{"telemetry", "billing"} }, true},
		{"call in schema 1", func(m *Manifest) { m.Capabilities.Call = []string{"telemetry"} }, false},
		{"call to itself", func(m *Manifest) { m.Schema = 3; m.Capabilities.Call = []string{m.Name} }, false},
		{"call twice", func(m *Manifest) { m.Schema = 3; m.Capabilities.Call = []string{"a", "a"} }, false},
		{"call bad name", func(m *Manifest) { m.Schema = 3; m.Capabilities.Call = []string{"../x"} }, false},
		{"schema 2 with an epoch", func(m *Manifest) { m.Schema, m.Epoch = 2, 3 }, true},
		{"schema 2 without an epoch", func(m *Manifest) { m.Schema = 2 }, true},
		{"schema 1 with an epoch", func(m *Manifest) { m.Epoch = 1 }, false},
		{"empty name", func(m *Manifest) { m.Name = "" }, false},
		{"name with slash", func(m *Manifest) { m.Name = "a/b" }, false},
		{"name starting with dot", func(m *Manifest) { m.Name = ".hidden" }, false},
		{"name too long", func(m *Manifest) { m.Name = strings.Repeat("a", 64) }, false},
		{"version empty", func(m *Manifest) { m.Version = "" }, false},
		{"version two parts", func(m *Manifest) { m.Version = "1.2" }, false},
		{"version leading v", func(m *Manifest) { m.Version = "v1.2.3" }, false},
		{"version leading zero", func(m *Manifest) { m.Version = "1.02.3" }, false},
		{"version empty part", func(m *Manifest) { m.Version = "1..3" }, false},
		{"version empty pre-release", func(m *Manifest) { m.Version = "1.2.3-" }, false},
		{"version bad pre-release", func(m *Manifest) { m.Version = "1.0.0-!" }, false},
		{"version empty build", func(m *Manifest) { m.Version = "1.0.0+" }, false},
		{"version empty pre-release identifier", func(m *Manifest) { m.Version = "1.0.0-rc..1" }, false},
		{"sha256 short", func(m *Manifest) { m.SHA256 = "abcd" }, false},
		{"sha256 not hex", func(m *Manifest) { m.SHA256 = strings.Repeat("zz", 32) }, false},
		{"size 0", func(m *Manifest) { m.Size = 0 }, false},
		{"size negative", func(m *Manifest) { m.Size = -1 }, false},
		{"size too large", func(m *Manifest) { m.Size = MaxModuleSize + 1 }, false},
		{"size max", func(m *Manifest) { m.Size = MaxModuleSize }, true},
		{"created zero", func(m *Manifest) { m.Created = time.Time{} }, false},
		{"expires zero", func(m *Manifest) { m.Expires = time.Time{} }, false},
		{"expires before created", func(m *Manifest) { m.Expires = m.Created.Add(-time.Second) }, false},
		{"port negative", func(m *Manifest) { m.Port = -1 }, false},
		{"port too large", func(m *Manifest) { m.Port = 65536 }, false},
		{"db bad name", func(m *Manifest) { m.Bindings.DB = "my db" }, false},
		{"deadline negative", func(m *Manifest) { m.Limits.DeadlineMS = -1 }, false},
		{"body negative", func(m *Manifest) { m.Limits.BodyBytes = -1 }, false},
		{"pool negative", func(m *Manifest) { m.Limits.Pool = -1 }, false},
		{"probe relative", func(m *Manifest) { m.Probe.Path = "healthz" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.mutate(m)
			err := m.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrManifest) {
				t.Errorf("Validate = %v, want ErrManifest", err)
			}
		})
	}
}

func TestProbePath(t *testing.T) {
	m := validManifest()
	if got := m.ProbePath(); got != "/" {
		t.Errorf("default ProbePath = %q, want /", got)
	}
	m.Probe.Path = "/healthz"
	if got := m.ProbePath(); got != "/healthz" {
		t.Errorf("ProbePath = %q, want /healthz", got)
	}
}

func TestTargetsMatches(t *testing.T) {
	labels := map[string]string{"site": "lyon", "arch": "arm64"}
	tests := []struct {
		name    string
		targets Targets
		id      string
		labels  map[string]string
		want    bool
	}{
		{"empty targets nobody", Targets{}, "pi-1", labels, false},
		{"empty targets, device without labels", Targets{}, "pi-1", nil, false},
		{"node listed", Targets{Nodes: []string{"pi-0", "pi-1"}}, "pi-1", nil, true},
		{"node not listed", Targets{Nodes: []string{"pi-0"}}, "pi-1", labels, false},
		{"node ids are exact", Targets{Nodes: []string{"PI-1"}}, "pi-1", nil, false},
		{"all labels match", Targets{Labels: map[string]string{"site": "lyon", "arch": "arm64"}}, "pi-1", labels, true},
		{"subset of labels", Targets{Labels: map[string]string{"site": "lyon"}}, "pi-1", labels, true},
		{"one label differs", Targets{Labels: map[string]string{"site": "lyon", "arch": "riscv64"}}, "pi-1", labels, false},
		{"label missing on device", Targets{Labels: map[string]string{"rack": "3"}}, "pi-1", labels, false},
		{"empty label value is not a wildcard", Targets{Labels: map[string]string{"rack": ""}}, "pi-1", labels, false},
		{"device without labels", Targets{Labels: map[string]string{"site": "lyon"}}, "pi-1", nil, false},
		{"node or labels: node", Targets{Nodes: []string{"pi-1"}, Labels: map[string]string{"site": "paris"}}, "pi-1", labels, true},
		{"node or labels: labels", Targets{Nodes: []string{"pi-9"}, Labels: map[string]string{"site": "lyon"}}, "pi-1", labels, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.targets.Matches(tt.id, tt.labels); got != tt.want {
				t.Errorf("Matches(%q, %v) = %v, want %v", tt.id, tt.labels, got, tt.want)
			}
		})
	}
}
