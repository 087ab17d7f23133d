//go:build !linux

package supervisor

import "os/exec"

// startWorker starts c. Outside Linux there is no parent-death signal; a
// worker notices a dead supervisor by its failing heartbeat writes.
func startWorker(c *exec.Cmd) error { return c.Start() }
