package wire

import "testing"

func TestMinSchema(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    Manifest
		want int
	}{
		{"plain", Manifest{}, ManifestSchema},
		{"epoch", Manifest{Epoch: 2}, ManifestSchemaEpoch},
		{"kv", Manifest{Capabilities: Capabilities{KV: &KVGrant{}}}, ManifestSchemaCapabilities},
		{"call and epoch", Manifest{Epoch: 1, Capabilities: Capabilities{Call: []string{"a"}}}, ManifestSchemaCapabilities},
		{"http only", Manifest{Capabilities: Capabilities{HTTPAllow: []string{"h"}}}, ManifestSchema},
	} {
		if got := tt.m.MinSchema(); got != tt.want {
			t.Errorf("%s: MinSchema = %d, want %d", tt.name, got, tt.want)
		}
	}
}
