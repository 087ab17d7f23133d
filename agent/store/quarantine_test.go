package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuarantineMigratedFromDigests: an agent upgraded from the
// digest-keyed quarantine keeps refusing the manifests that failed (where
// the manifest is still stored) and forgets digests it can no longer tie
// to a manifest, and never writes the old form again.
func TestQuarantineMigratedFromDigests(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	m := stageVersion(t, s, "orders", "1.1.0", []byte("bad bytes"))
	// Rewrite state.json as an older agent left it.
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(b, &raw)
	mod := raw["modules"].(map[string]any)["orders"].(map[string]any)
	delete(mod, "quarantine")
	mod["failed"] = map[string]string{m.SHA256: "probe failed", strings.Repeat("ab", 32): "a manifest long gone"}
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	if r, ok := s.QuarantineReason(m); !ok || r != "probe failed" {
		t.Errorf("QuarantineReason after the upgrade = %q, %v; want probe failed", r, ok)
	}
	if q := s.Quarantines("orders"); len(q) != 1 {
		t.Errorf("quarantine entries = %v, want the one whose manifest is stored", q)
	}
	if err := s.ObserveTime(time.Now()); err != nil { // any write
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "state.json"))
	if strings.Contains(string(b), `"failed"`) {
		t.Errorf("state.json still holds the digest-keyed quarantine:\n%s", b)
	}
}

// TestQuarantineBounded: each failed manifest adds an entry; the oldest
// goes beyond maxQuarantine, so the state file cannot grow without end.
func TestQuarantineBounded(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := open(t, dir, func() time.Time { now = now.Add(time.Second); return now })
	m := stageVersion(t, s, "orders", "1.0.0", []byte("bytes"))
	for i := range maxQuarantine + 3 {
		v := *m
		v.Version = fmt.Sprintf("1.0.%d", i)
		if err := s.Quarantine(&v, "failed "+v.Version); err != nil {
			t.Fatal(err)
		}
	}
	q := open(t, dir, nil).Quarantines("orders")
	if len(q) != maxQuarantine {
		t.Fatalf("%d entries kept, want %d", len(q), maxQuarantine)
	}
	for _, e := range q {
		if e.Version == "1.0.0" || e.Version == "1.0.1" || e.Version == "1.0.2" {
			t.Errorf("oldest entry %s kept", e.Version)
		}
	}
}
