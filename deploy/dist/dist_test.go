package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/edgeplane/edge/deploy/release"
)

// TestTarballReproducible: the same files give the same bytes, whatever
// their dates on disk; a changed mode or content does not.
func TestTarballReproducible(t *testing.T) {
	mtime := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	write := func(fileTime time.Time, mode os.FileMode, body string) []byte {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "edge-agent_1.2.3_linux_amd64")
		for _, f := range []string{"edge-agent", "systemd/edge-agent.service", "ARCH"} {
			p := filepath.Join(dir, f)
			if err := copyBytes(p, body+f, mode); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, fileTime, fileTime)
		}
		out := filepath.Join(t.TempDir(), "r.tar.gz")
		if err := tarball(dir, out, mtime); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := write(time.Now(), 0o644, "x")
	b := write(time.Now().Add(-48*time.Hour), 0o644, "x")
	if !bytes.Equal(a, b) {
		t.Error("the same files dated differently gave different tarballs")
	}
	if bytes.Equal(a, write(time.Now(), 0o755, "x")) {
		t.Error("a different mode gave the same tarball")
	}
	if bytes.Equal(a, write(time.Now(), 0o644, "y")) {
		t.Error("different contents gave the same tarball")
	}
}

func copyBytes(p, body string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

func TestResolveVersion(t *testing.T) {
	tests := []struct {
		given, want string
		bad         bool
	}{
		{given: "1.2.3", want: "1.2.3"},
		{given: "v1.2.3", want: "1.2.3"}, // as a tag names it
		{given: "1.2.3~rc1", want: "1.2.3~rc1"},
		{given: "d18bc0a", bad: true}, // what make dist released before: dpkg refuses it
		{given: "v1.2.3-4-gd18bc0a", bad: true},
		{given: "1.2.3-rc1", bad: true},
		{given: "vv1.2.3", bad: true},
		{given: "v", bad: true},
	}
	for _, tt := range tests {
		got, err := resolveVersion(context.Background(), tt.given)
		switch {
		case tt.bad && !errors.Is(err, release.ErrVersion):
			t.Errorf("resolveVersion(%q) = %q, %v; want ErrVersion", tt.given, got, err)
		case !tt.bad && (err != nil || got != tt.want):
			t.Errorf("resolveVersion(%q) = %q, %v; want %q", tt.given, got, err, tt.want)
		}
	}
}

// TestRunRefusesBadVersion: a bad version stops make dist before it
// builds anything or touches the output folder.
func TestRunRefusesBadVersion(t *testing.T) {
	out := t.TempDir()
	old := filepath.Join(out, "edge-agent_1.0.0_amd64.deb")
	if err := os.WriteFile(old, []byte("earlier release"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), "d18bc0a", out, "amd64", &stdout); !errors.Is(err, release.ErrVersion) {
		t.Errorf("run with version d18bc0a: %v, want ErrVersion", err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the refused run touched the output folder: %v", err)
	}
}

func TestSelectTargets(t *testing.T) {
	names := func(ts []target) []string {
		var n []string
		for _, t := range ts {
			n = append(n, t.name)
		}
		return n
	}
	for _, tt := range []struct {
		list string
		want []string
	}{
		{"", []string{"amd64", "arm64", "armv7", "riscv64"}},
		{"amd64 armv7", []string{"amd64", "armv7"}},
		{"armv7,amd64", []string{"armv7", "amd64"}},
		{" amd64  amd64 ", []string{"amd64"}},
	} {
		got, err := selectTargets(tt.list)
		if err != nil || !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("selectTargets(%q) = %v, %v; want %v", tt.list, names(got), err, tt.want)
		}
	}
	for _, bad := range []string{"x86_64", "arm", "amd64 mips"} {
		if _, err := selectTargets(bad); err == nil {
			t.Errorf("selectTargets(%q) accepted it", bad)
		}
	}
}

// TestClean: make dist empties its folder of earlier releases' artifacts,
// so SHA256SUMS covers the folder, and leaves other files alone.
func TestClean(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"SHA256SUMS", "edge-agent_d18bc0a_amd64.deb", "edgectl_1.0.0_linux_amd64.tar.gz", "edge-control_1.0.0_linux_amd64/x", "notes.txt", "edge-agentish"} {
		if err := copyBytes(filepath.Join(dir, n), "x", 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := clean(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"edge-agentish", "notes.txt"}; !reflect.DeepEqual(left, want) {
		t.Errorf("after clean: %v, want %v", left, want)
	}
	if err := clean(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("clean of a missing folder: %v", err)
	}
}
