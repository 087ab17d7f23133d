package wire

import "testing"

func TestLowestSchemaKVCall(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    Manifest
		want int
	}{
		{"plain", Manifest{}, ManifestSchema},
		{"epoch", Manifest{Epoch: 2}, ManifestSchemaEpoch},
		{"kv", Manifest{Capabilities: Capabilities{KV: &KVGrant{}}}, ManifestSchemaPlatform},
		{"call and epoch", Manifest{Epoch: 1, Capabilities: Capabilities{Call: []string{"a"}}}, ManifestSchemaPlatform},
		{"http only", Manifest{Capabilities: Capabilities{HTTPAllow: []string{"h"}}}, ManifestSchema},
	} {
		if got := tt.m.LowestSchema(); got != tt.want {
			t.Errorf("%s: LowestSchema = %d, want %d", tt.name, got, tt.want)
		}
	}
}
