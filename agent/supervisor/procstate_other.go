//go:build !linux

package supervisor

import "time"

// Where thread states and CPU times cannot be read, a silent worker is
// judged by Config.Silence alone.
func runnable(pid int) bool { return false }

func processCPU(pid int) (time.Duration, bool) { return 0, false }
