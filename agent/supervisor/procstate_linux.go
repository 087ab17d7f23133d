package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// runnable reports whether a thread of process pid is running or waiting
// for a CPU (state R in /proc/PID/task/TID/stat). A worker whose threads
// all sleep or are stopped while its heartbeat is silent is hung. It is
// false when the state cannot be read.
func runnable(pid int) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue
		}
		if s, ok := statFields(b); ok && len(s) > 0 && s[0][0] == 'R' {
			return true
		}
	}
	return false
}

// statFields splits a stat line after "PID (COMM) ": COMM may hold spaces
// and parentheses, so the fields start after the last ')'. The first is
// the state.
func statFields(b []byte) ([][]byte, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return bytes.Fields(b[i+1:]), true
}
