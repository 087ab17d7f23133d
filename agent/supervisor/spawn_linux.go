package supervisor

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Workers die with the supervisor. A worker notices a dead supervisor when
// its next heartbeat write fails (within 100 ms), but a worker busy in a
// compile or frozen in a runaway guest may not write for a while, and it
// keeps the module's listening socket: a supervisor restarted by systemd
// then finds its port taken ("address already in use"). So every worker
// gets PR_SET_PDEATHSIG = SIGKILL: the kernel kills it the moment its
// parent goes, kill -9 included.
//
// The kernel sends that signal when the parent *thread* exits, not the
// process, and the Go runtime may end an OS thread (a goroutine that
// locked its thread and exits without unlocking ends it). Workers are
// therefore forked from one goroutine locked to its thread for the life of
// the process, so the thread that is their parent never exits before the
// process does.
var spawner struct {
	once sync.Once
	reqs chan func()
}

// onSpawnThread runs f on the spawning thread and waits for it.
func onSpawnThread(f func()) {
	spawner.once.Do(func() {
		spawner.reqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for f := range spawner.reqs {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.reqs <- func() { f(); close(done) }
	<-done
}

// startWorker starts c so that it is killed when the supervisor dies.
func startWorker(c *exec.Cmd) error {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Pdeathsig = syscall.SIGKILL
	var err error
	onSpawnThread(func() { err = c.Start() })
	return err
}
