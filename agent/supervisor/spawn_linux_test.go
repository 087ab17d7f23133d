package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWorkerDiesWithSupervisor: kill -9 of the supervisor kills a worker
// that does not notice by itself (here one that never writes a heartbeat,
// as a worker busy compiling or frozen in a runaway guest does not), so a
// restarted agent never finds the module's port still held.
func TestWorkerDiesWithSupervisor(t *testing.T) {
	if os.Getenv("EDGE_TEST_SPAWNER") == "1" {
		// The "supervisor": start a worker that ignores everything, say
		// its pid, and wait to be killed. Starting it from another
		// goroutine whose thread may end shows the spawning thread is
		// the one that must live.
		c := exec.Command("sleep", "300")
		done := make(chan error)
		go func() { done <- startWorker(c) }()
		if err := <-done; err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(c.Process.Pid)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	sup := exec.Command(os.Args[0], "-test.run=^TestWorkerDiesWithSupervisor$")
	sup.Env = append(os.Environ(), "EDGE_TEST_SPAWNER=1")
	out, err := sup.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		sup.Process.Kill()
		t.Fatalf("read worker pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		sup.Process.Kill()
		t.Fatalf("worker pid: %q", line)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := sup.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sup.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// A zombie counts as gone: its parent (now init) reaps it.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d still alive 5s after its supervisor was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
