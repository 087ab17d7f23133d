package supervisor

import (
	"os"
	"os/exec"
	"syscall"
)

// startIn starts cmd inside cgroup w: directly with clone3's
// CLONE_INTO_CGROUP (Linux 5.7+), else by moving it right after start.
func startIn(cmd func() *exec.Cmd, w *workerCgroup) (*exec.Cmd, error) {
	if d, err := os.Open(w.dir); err == nil {
		c := cmd()
		c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(d.Fd())}
		err := startWorker(c)
		d.Close()
		if err == nil {
			return c, nil
		}
	}
	c := cmd()
	if err := startWorker(c); err != nil {
		return nil, err
	}
	if err := w.addPid(c.Process.Pid); err != nil {
		return c, &capError{err}
	}
	return c, nil
}
