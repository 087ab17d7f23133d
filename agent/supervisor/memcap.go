package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// Worker memory cap.
//
// Each worker runs in a cgroup v2 child of the agent's own cgroup with
// memory.max set to Config.WorkerMemory: the kernel OOM-kills the worker
// (and only it) when its guest runs away with memory, and the watchdog
// restarts it like any crash. This needs the memory controller delegated
// to the agent's cgroup, which is what systemd's Delegate=yes gives. The
// agent moves itself into a leaf child ("supervisor": a cgroup with
// processes cannot enable controllers for its children), enables +memory
// in its cgroup.subtree_control and creates one "worker-N" child per
// worker process.
//
// Where that is not possible (cgroup v1 or hybrid, no delegation, not
// writable) the cap is not enforced and New logs why. There is no
// fallback: RLIMIT_AS breaks wazero (it reserves large address ranges),
// and GOMEMLIMIT cannot bound a guest: guest linear memory is reserved
// with mmap outside the Go heap (wasmhost's instanceAllocator), so the
// runtime neither counts nor limits it. The worker's own heap is kept
// small by its GOGC once serving (worker.servingGOGC).

// memCap creates worker cgroups under the agent's own cgroup.
type memCap struct {
	dir   string // the agent's own cgroup
	limit int64
	seq   atomic.Uint64
}

// setupMemCap prepares cgroup v2 memory caps of limit bytes. root is the
// cgroup2 mount (/sys/fs/cgroup), selfCgroup the file naming the
// process's cgroup (/proc/self/cgroup), pid the agent's own pid. A nil
// memCap and nil error means limit is 0 (no cap asked for).
func setupMemCap(root, selfCgroup string, pid int, limit int64) (*memCap, error) {
	if limit <= 0 {
		return nil, nil
	}
	rel, err := ownCgroup(selfCgroup)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		return nil, fmt.Errorf("no cgroup v2 hierarchy mounted at %s (cgroup v1 or hybrid)", root)
	}
	dir := filepath.Join(root, filepath.FromSlash(rel))
	ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read the agent's cgroup %s: %w", dir, err)
	}
	if !hasWord(ctrl, "memory") {
		return nil, fmt.Errorf("the memory controller is not delegated to the agent's cgroup %s (systemd: Delegate=yes)", dir)
	}
	// Move the agent into a leaf so that its cgroup may have children
	// with controllers ("no internal processes" rule).
	leaf := filepath.Join(dir, "supervisor")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create a child cgroup in %s: %w", dir, err)
	}
	if err := writeCgroupFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return nil, fmt.Errorf("move the agent into %s: %w", leaf, err)
	}
	sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "cgroup.subtree_control"), err)
	}
	if !hasWord(sub, "memory") {
		if err := writeCgroupFile(filepath.Join(dir, "cgroup.subtree_control"), "+memory"); err != nil {
			return nil, fmt.Errorf("enable the memory controller for %s's children: %w", dir, err)
		}
	}
	// Worker cgroups a previous agent left behind (empty: its workers
	// died with it).
	if old, _ := filepath.Glob(filepath.Join(dir, "worker-*")); len(old) > 0 {
		for _, d := range old {
			os.Remove(d)
		}
	}
	return &memCap{dir: dir, limit: limit}, nil
}

// ownCgroup reads the unified-hierarchy ("0::") path from /proc/self/cgroup.
func ownCgroup(selfCgroup string) (string, error) {
	b, err := os.ReadFile(selfCgroup)
	if err != nil {
		return "", fmt.Errorf("find the agent's cgroup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rel, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			if rel == "" || !strings.HasPrefix(rel, "/") || strings.Contains(rel, "..") {
				return "", fmt.Errorf("%s: odd cgroup v2 path %q", selfCgroup, rel)
			}
			return rel, nil
		}
	}
	return "", fmt.Errorf("%s names no cgroup v2 (unified) path: cgroup v1", selfCgroup)
}

func hasWord(b []byte, w string) bool {
	for f := range strings.FieldsSeq(string(b)) {
		if strings.TrimPrefix(f, "+") == w {
			return true
		}
	}
	return false
}

// writeCgroupFile writes one value the way cgroupfs wants it: a single
// write (O_CREATE only matters for a plain folder standing in for it).
func writeCgroupFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *memCap) String() string {
	return fmt.Sprintf("cgroup v2 memory.max=%d per worker under %s", c.limit, c.dir)
}

// workerCgroup is the cgroup of one worker process.
type workerCgroup struct {
	dir string
}

// create makes the cgroup for the next worker, with memory.max set.
func (c *memCap) create() (*workerCgroup, error) {
	dir := filepath.Join(c.dir, fmt.Sprintf("worker-%d", c.seq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create worker cgroup: %w", err)
	}
	w := &workerCgroup{dir: dir}
	v := strconv.FormatInt(c.limit, 10)
	if err := writeCgroupFile(filepath.Join(dir, "memory.max"), v); err != nil {
		w.remove()
		return nil, fmt.Errorf("set memory.max of %s: %w", dir, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "memory.max")); err != nil || strings.TrimSpace(string(got)) != v {
		w.remove()
		return nil, fmt.Errorf("memory.max of %s reads %q after writing %s (%v)", dir, bytes.TrimSpace(got), v, err)
	}
	// No swapping around the cap, where swap is accounted (best effort).
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
		writeCgroupFile(filepath.Join(dir, "memory.swap.max"), "0")
	}
	return w, nil
}

// addPid moves process pid into the cgroup (when it could not be started
// in it directly).
func (w *workerCgroup) addPid(pid int) error {
	return writeCgroupFile(filepath.Join(w.dir, "cgroup.procs"), strconv.Itoa(pid))
}

// oomKills is how many processes the kernel killed at memory.max.
func (w *workerCgroup) oomKills() int {
	b, err := os.ReadFile(filepath.Join(w.dir, "memory.events"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// remove deletes the (empty) cgroup once its process has exited.
func (w *workerCgroup) remove() { os.Remove(w.dir) }

// capError: the worker started, but outside its cgroup (uncapped).
type capError struct{ err error }

func (e *capError) Error() string { return "worker memory cap not applied: " + e.err.Error() }
