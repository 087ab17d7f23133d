// Package procfs reads what the agent reports about its own process and
// its workers from Linux's /proc, and the free space of its data folder:
//
//	memory  /proc/PID/smaps_rollup   Rss and Pss (PSS shares pages mapped by
//	                                 several processes, so the supervisor's
//	                                 and the workers' PSS add up to what
//	                                 they cost together)
//	CPU     /proc/PID/stat           utime + stime, in clock ticks
//	threads /proc/PID/task/*/stat    whether one is running or runnable
//	disk    statfs(2)                blocks available to the agent's user
//
// None of it stops the world (runtime.ReadMemStats does) or allocates more
// than a line buffer: it is read when a report is made, every 10 s by
// default, never per request.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// ClockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture the agent runs on (x86, arm, arm64, riscv64), fixed
// by the kernel's ABI whatever HZ the kernel was built with.
const ClockTicks = 100

// ErrFormat is wrapped by errors about a /proc file that does not read as
// expected.
var ErrFormat = errors.New("unexpected /proc format")

// Memory is a process's resident and proportional set sizes, in bytes.
type Memory struct {
	RSS, PSS int64
}

// ReadMemory reads /proc/PID/smaps_rollup (pid 0: the calling process).
func ReadMemory(pid int) (Memory, error) {
	f, err := os.Open(procPath(pid, "smaps_rollup"))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	return parseSmapsRollup(f)
}

func parseSmapsRollup(r io.Reader) (Memory, error) {
	var m Memory
	var seen int
	sc := bufio.NewScanner(r)
	for sc.Scan() && seen < 2 {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("Rss:")):
			dst = &m.RSS
		case bytes.HasPrefix(line, []byte("Pss:")):
			dst = &m.PSS
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[2]) != "kB" {
			return Memory{}, fmt.Errorf("%w: smaps_rollup line %q", ErrFormat, line)
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil || kb < 0 {
			return Memory{}, fmt.Errorf("%w: smaps_rollup line %q", ErrFormat, line)
		}
		*dst = kb << 10
		seen++
	}
	if err := sc.Err(); err != nil {
		return Memory{}, err
	}
	if seen < 2 {
		return Memory{}, fmt.Errorf("%w: smaps_rollup without Rss and Pss", ErrFormat)
	}
	return m, nil
}

// ReadCPU reads the CPU time (user + system) process pid used, in seconds
// (pid 0: the calling process).
func ReadCPU(pid int) (float64, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted after the last ')'.
func parseStat(b []byte) (float64, error) {
	f, ok := statFields(b)
	if !ok {
		return 0, fmt.Errorf("%w: stat without a command name", ErrFormat)
	}
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat with %d fields", ErrFormat, len(f)+2)
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: stat utime %q stime %q", ErrFormat, f[11], f[12])
	}
	return float64(u+s) / ClockTicks, nil
}

// statFields splits a stat line after "PID (COMM) ": COMM may hold spaces
// and parentheses, so the fields start after the last ')'. The first is
// the state (field 3).
func statFields(b []byte) ([][]byte, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return bytes.Fields(b[i+1:]), true
}

// Runnable reports whether a thread of process pid is running or waiting
// for a CPU (state R in /proc/PID/task/TID/stat). It is false when the
// states cannot be read (a process gone, or no /proc).
func Runnable(pid int) bool {
	dir := procPath(pid, "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/stat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if f, ok := statFields(b); ok && len(f) > 0 && f[0][0] == 'R' {
			return true
		}
	}
	return false
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}
