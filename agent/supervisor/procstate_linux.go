package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
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

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on every
// Linux architecture the agent is built for).
const userHZ = 100

// processCPU is the CPU time process pid has used (user + system).
func processCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	f, ok := statFields(b)
	if !ok || len(f) < 13 {
		return 0, false
	}
	// Fields 14 and 15 of stat(5), utime and stime: 11 and 12 after the
	// state (field 3).
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / userHZ, true
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
