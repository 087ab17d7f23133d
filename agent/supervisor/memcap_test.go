package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroupFS lays out, in a real folder, the cgroupfs files the memory
// cap reads: the mount's cgroup.controllers, the agent's own cgroup and a
// /proc/self/cgroup naming it. Files the code writes are created on
// write, as cgroupfs creates them on mkdir.
func fakeCgroupFS(t *testing.T, self, controllers, subtree string) (root, selfFile, dir string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "cgroup")
	dir = filepath.Join(root, "system.slice", "edge-agent.service")
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "cgroup.controllers"), "cpuset cpu io memory pids\n")
	write(filepath.Join(dir, "cgroup.controllers"), controllers)
	write(filepath.Join(dir, "cgroup.subtree_control"), subtree)
	selfFile = filepath.Join(base, "proc-self-cgroup")
	write(selfFile, self)
	return root, selfFile, dir
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestMemCapDelegated(t *testing.T) {
	root, self, dir := fakeCgroupFS(t, "0::/system.slice/edge-agent.service\n", "cpu memory pids\n", "")
	os.Mkdir(filepath.Join(dir, "worker-7"), 0o755) // left by a previous agent
	c, err := setupMemCap(root, self, 4242, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if c.dir != dir {
		t.Errorf("dir = %s, want %s", c.dir, dir)
	}
	if got := read(t, filepath.Join(dir, "supervisor", "cgroup.procs")); got != "4242" {
		t.Errorf("agent not moved into its leaf cgroup: cgroup.procs = %q", got)
	}
	if got := read(t, filepath.Join(dir, "cgroup.subtree_control")); got != "+memory" {
		t.Errorf("cgroup.subtree_control = %q, want +memory", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "worker-7")); !os.IsNotExist(err) {
		t.Errorf("stale worker cgroup kept: %v", err)
	}
	w, err := c.create()
	if err != nil {
		t.Fatal(err)
	}
	if w.dir != filepath.Join(dir, "worker-1") {
		t.Errorf("worker cgroup %s", w.dir)
	}
	if got := read(t, filepath.Join(w.dir, "memory.max")); got != "268435456" {
		t.Errorf("memory.max = %q", got)
	}
	if err := w.addPid(99); err != nil || read(t, filepath.Join(w.dir, "cgroup.procs")) != "99" {
		t.Errorf("addPid: %v", err)
	}
	if n := w.oomKills(); n != 0 {
		t.Errorf("oomKills with no memory.events = %d", n)
	}
	os.WriteFile(filepath.Join(w.dir, "memory.events"), []byte("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"), 0o644)
	if n := w.oomKills(); n != 1 {
		t.Errorf("oomKills = %d, want 1", n)
	}
	if w2, err := c.create(); err != nil || filepath.Base(w2.dir) != "worker-2" {
		t.Errorf("second worker: %v %v", w2, err)
	}
	if !strings.Contains(c.String(), "memory.max=268435456") {
		t.Errorf("String() = %q", c.String())
	}
}

func TestMemCapSubtreeAlreadyEnabled(t *testing.T) {
	root, self, dir := fakeCgroupFS(t, "0::/system.slice/edge-agent.service\n", "memory\n", "cpu memory\n")
	if _, err := setupMemCap(root, self, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "cgroup.subtree_control")); got != "cpu memory" {
		t.Errorf("cgroup.subtree_control rewritten: %q", got)
	}
}

func TestMemCapNotAvailable(t *testing.T) {
	tests := []struct {
		name, self, controllers, want string
		limit                         int64
		noMount                       bool
	}{
		{name: "no cap asked", self: "0::/system.slice/edge-agent.service\n", controllers: "memory", limit: 0},
		{name: "cgroup v1", self: "4:memory:/system.slice/edge-agent.service\n1:cpu:/\n", controllers: "memory", limit: 1 << 20, want: "cgroup v1"},
		{name: "hybrid", self: "4:memory:/x\n0::/system.slice/edge-agent.service\n", controllers: "memory", limit: 1 << 20, noMount: true, want: "no cgroup v2 hierarchy"},
		{name: "not delegated", self: "0::/system.slice/edge-agent.service\n", controllers: "cpu pids\n", limit: 1 << 20, want: "Delegate=yes"},
		{name: "unknown cgroup", self: "0::/user.slice/other.scope\n", controllers: "memory", limit: 1 << 20, want: "read the agent's cgroup"},
		{name: "odd path", self: "0::/../../etc\n", controllers: "memory", limit: 1 << 20, want: "odd cgroup v2 path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, self, _ := fakeCgroupFS(t, tt.self, tt.controllers, "")
			if tt.noMount {
				os.Remove(filepath.Join(root, "cgroup.controllers"))
			}
			c, err := setupMemCap(root, self, 1, tt.limit)
			if c != nil {
				t.Fatalf("cap set up: %v", c)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestMemCapReadOnly: a cgroup the agent may not write (no delegation):
// not enforced, and nothing half done.
func TestMemCapReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores folder permissions")
	}
	root, self, dir := fakeCgroupFS(t, "0::/system.slice/edge-agent.service\n", "memory\n", "")
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if _, err := setupMemCap(root, self, 1, 1<<20); err == nil || !strings.Contains(err.Error(), "create a child cgroup") {
		t.Fatalf("err = %v", err)
	}
}

// TestSupervisorReportsMemCap: New says which mechanism applies.
func TestSupervisorReportsMemCap(t *testing.T) {
	root, self, _ := fakeCgroupFS(t, "0::/system.slice/edge-agent.service\n", "memory\n", "")
	s, err := New(Config{Exe: "/nonexistent", WorkerMemory: 64 << 20, cgroupRoot: root, selfCgroup: self})
	if err != nil {
		t.Fatal(err)
	}
	if s.mem == nil || !strings.HasPrefix(s.MemoryCap(), "cgroup v2 memory.max=67108864") {
		t.Errorf("MemoryCap() = %q", s.MemoryCap())
	}
	s, _ = New(Config{Exe: "/nonexistent", WorkerMemory: 64 << 20, cgroupRoot: root, selfCgroup: filepath.Join(root, "missing")})
	if s.mem != nil || !strings.HasPrefix(s.MemoryCap(), "none: ") {
		t.Errorf("MemoryCap() = %q", s.MemoryCap())
	}
	s, _ = New(Config{Exe: "/nonexistent"})
	if s.mem != nil || !strings.HasPrefix(s.MemoryCap(), "none: no worker memory cap") {
		t.Errorf("MemoryCap() = %q", s.MemoryCap())
	}
}
