package supervisor

import (
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edge/agent/internal/procfs"
)

// TestStarvedWorkerKept: a worker that gets no CPU (every thread of it
// pinned to CPU 0, beside a real-time busy loop pinned there, which leaves
// ordinary tasks 50 ms a second) misses heartbeats while runnable; it is kept, and serves once it runs again. Before, it
// was killed 300 ms into the starvation ("heartbeat silent for 313ms"), as
// conformance tests saw on a loaded CI machine, and each restart's compile
// added to the load. (A stopped worker is still killed:
// TestStarvedSupervisorKeepsWorker.)
func TestStarvedWorkerKept(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs: the supervisor must run while the worker starves")
	}
	for _, tool := range []string{"taskset", "chrt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing (util-linux)", tool)
		}
	}
	s := newSupervisor(t, t.TempDir())
	port := freePort(t)
	if err := deploy(t, s, manifest("1.0.0", port, "/"), copyWasm(t, "v1.wasm")); err != nil {
		t.Fatal(err)
	}
	r, pid := current(s, "orders")

	hog := exec.Command("chrt", "-f", "1", "taskset", "-c", "0", "sh", "-c", "while :; do :; done")
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- hog.Wait() }()
	defer func() { hog.Process.Kill(); <-exited }()
	select {
	case err := <-exited: // chrt needs CAP_SYS_NICE
		exited <- err
		t.Skipf("cannot run a real-time busy loop: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	for _, c := range [][]string{
		{"taskset", "-a", "-p", "-c", "0", strconv.Itoa(pid)},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	starvedFor := 2 * time.Second // well past Silence, within BusySilence
	time.Sleep(starvedFor)
	hog.Process.Kill()

	r.mu.Lock()
	newPID, crashes, why := r.proc.cmd.Process.Pid, r.total, r.lastCrash
	r.mu.Unlock()
	if newPID != pid || crashes != 0 {
		t.Fatalf("starved worker replaced (pid %d→%d, crashes %d: %q)", pid, newPID, crashes, why)
	}
	if code, err := get(&http.Client{Timeout: 5 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || code >= 500 {
		t.Fatalf("after the starvation: %d %v", code, err)
	}
}

// TestLateBeat: a process that has the CPU and does not beat is not
// starved (a frozen worker is killed at Silence), one asleep or stopped
// is not either (hung), and stat lines whose command holds ") " parse.
func TestLateBeat(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	// Real-time on CPU 1, so that it runs flat out however loaded the
	// machine is (ordinary tasks keep 50 ms a second there).
	busy := exec.Command("chrt", "-f", "1", "taskset", "-c", "1", "sh", "-c", "while :; do :; done")
	sleeper := exec.Command("sleep", "30")
	for _, c := range []*exec.Cmd{busy, sleeper} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	time.Sleep(50 * time.Millisecond)
	if busy.ProcessState != nil || !procfs.Runnable(busy.Process.Pid) {
		t.Skip("cannot run a real-time busy loop (chrt needs CAP_SYS_NICE)")
	}
	var l lateBeat
	start := time.Now()
	if !l.starved(busy.Process.Pid, start) {
		t.Fatal("a runnable process judged not starved before its CPU was measured")
	}
	time.Sleep(2 * measureWindow)
	if l.starved(busy.Process.Pid, time.Now()) {
		t.Errorf("a process running flat out judged starved (%s ago, CPU %s then)", time.Since(start), l.cpu)
	}
	var s lateBeat
	if s.starved(sleeper.Process.Pid, time.Now()) {
		t.Error("a sleeping process judged starved")
	}
	if s.starved(1<<30, time.Now()) {
		t.Error("a process that does not exist judged starved")
	}
}
