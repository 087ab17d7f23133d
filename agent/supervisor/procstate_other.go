//go:build !linux

package supervisor

// Where thread states cannot be read, a silent worker is judged by
// Config.Silence alone.
func runnable(pid int) bool { return false }
