package procfs

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseSmapsRollup(t *testing.T) {
	const good = `55d0c0a00000-7ffd5a3fe000 ---p 00000000 00:00 0                          [rollup]
Rss:               10240 kB
Pss:                4321 kB
Pss_Dirty:          3000 kB
Shared_Clean:       6000 kB
`
	m, err := parseSmapsRollup(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Memory{RSS: 10240 << 10, PSS: 4321 << 10}); m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	for _, bad := range []string{
		"",                               // empty (a process that exited)
		"Rss: 12 kB\n",                   // no Pss
		"Rss: 12 MB\nPss: 1 kB\n",        // another unit
		"Rss: -5 kB\nPss: 1 kB\n",        // negative
		"Rss: twelve kB\nPss: 1 kB\n",    // not a number
		"Rss: 1 2 kB\nPss: 1 kB\n",       // extra field
		"Rss: 99999999999999999999 kB\n", // overflow
	} {
		if _, err := parseSmapsRollup(strings.NewReader(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: err %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"1234 (edge-agent) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3},
		// A command name with spaces and parentheses.
		{"42 (a) b (c)) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 0.1},
	} {
		got, err := parseStat([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1 edge S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 3"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: err %v, want ErrFormat", bad, err)
		}
	}
}

// TestRunnable: the test process has a running thread (this one); a
// sleeping process has none; a process that does not exist has none.
func TestRunnable(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skipf("no /proc/self/task here: %v", err)
	}
	if !Runnable(0) || !Runnable(os.Getpid()) {
		t.Error("the running test process: not runnable")
	}
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	time.Sleep(50 * time.Millisecond) // past exec
	if Runnable(sleeper.Process.Pid) {
		t.Error("a sleeping process: runnable")
	}
	if Runnable(1 << 30) {
		t.Error("a process that does not exist: runnable")
	}
	f, ok := statFields([]byte("42 (a) b (c)) R 1 42 42 0"))
	if !ok || string(f[0]) != "R" {
		t.Errorf("stat fields of a name with parentheses: %q", f)
	}
}

// TestSelf reads the test process itself: real files, plausible values.
func TestSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skipf("no smaps_rollup here: %v", err)
	}
	m, err := ReadMemory(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS < 1<<20 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Errorf("self memory %+v: want RSS ≥ 1 MiB and 0 < PSS ≤ RSS", m)
	}
	if m2, err := ReadMemory(os.Getpid()); err != nil || m2.RSS <= 0 {
		t.Errorf("ReadMemory(own pid) = %+v, %v", m2, err)
	}
	for i := 0; i < 1e7; i++ { // burn some CPU
		_ = i * i
	}
	cpu, err := ReadCPU(0)
	if err != nil || cpu < 0 {
		t.Errorf("self CPU = %v, %v", cpu, err)
	}
	d, err := ReadDisk(t.TempDir())
	if err != nil || d.Total <= 0 || d.Free < 0 || d.Free > d.Total {
		t.Errorf("disk = %+v, %v", d, err)
	}
	if _, err := ReadMemory(1 << 30); err == nil {
		t.Error("memory of a process that does not exist: no error")
	}
}
