//go:build !linux

package supervisor

import "os/exec"

// startIn starts cmd; cgroups exist only on Linux (setupMemCap finds no
// /proc/self/cgroup elsewhere, so w is never set).
func startIn(cmd func() *exec.Cmd, w *workerCgroup) (*exec.Cmd, error) {
	c := cmd()
	return c, startWorker(c)
}
