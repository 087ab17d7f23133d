package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edge/modules/abi"
)

// sleepCPU is what 100-250 ms in the middle of a guest's sleep may cost
// the process in CPU time. A sleep that spins costs about its length; a
// real one costs nothing there. The window leaves out the call around the
// sleep and the replacement instance a deadline starts, which under
// qemu-user cost 25-50 ms.
const sleepCPU = 50 * time.Millisecond

// wallOf runs f and returns how long it took.
func wallOf(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

// cpuBetween sends the process's CPU time between from and to after now.
func cpuBetween(from, to time.Duration) <-chan time.Duration {
	c := make(chan time.Duration, 1)
	go func() {
		time.Sleep(from)
		cpu0 := processCPU()
		time.Sleep(to - from)
		c <- processCPU() - cpu0
	}()
	return c
}

// TestSleep: a Go guest's time.Sleep (capguest's /sleep) waits its time
// without spinning, on both engines. Before instances had a real
// nanosleep, wazero's poll_oneoff returned at once and Go's scheduler
// polled until its clock said the time was up: 200 ms of sleep cost
// ~200 ms of CPU.
func TestSleep(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m, _ := capModule(t, kind, Config{PoolSize: 1})
			get := func(uri string) (abi.Response, error) {
				return m.Serve(context.Background(), &abi.Request{Method: "GET", URI: uri})
			}
			if _, err := get("/ping"); err != nil { // the instance is warm
				t.Fatal(err)
			}
			var resp abi.Response
			var err error
			cpu := cpuBetween(50*time.Millisecond, 150*time.Millisecond)
			wall := wallOf(func() { resp, err = get("/sleep?ms=200") })
			if err != nil || string(resp.Body) != "slept" {
				t.Fatalf("/sleep?ms=200: %q, %v", resp.Body, err)
			}
			slept := <-cpu
			t.Logf("200 ms of sleep: %v, %v of CPU in 100 ms of it", wall, slept)
			if wall < 200*time.Millisecond {
				t.Errorf("answered after %v, want ≥ 200 ms", wall)
			}
			if slept > sleepCPU {
				t.Errorf("used %v of CPU in 100 ms of the sleep, want < %v (the sleep spins)", slept, sleepCPU)
			}
		})
	}
}

// TestSleepPastDeadline: a guest that sleeps past its deadline is
// answered 504 at the deadline in both modes, its instance is not reused,
// and its sleep ends at the deadline: in fast mode, where nothing else
// stops the guest, the abandoned call returns then instead of sleeping
// (or spinning) on for 30 s.
func TestSleepPastDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, mode := range []DeadlineMode{DeadlineInterrupt, DeadlineFast} {
		t.Run(mode.String(), func(t *testing.T) {
			m, _ := capModule(t, EngineCompiler, Config{PoolSize: 1, Deadline: mode, Limits: Limits{Deadline: deadline}})
			before, start := m.Stats(), time.Now()
			// The CPU of the sleep itself: from 50 ms into the call to
			// 50 ms before its deadline. Until the answer it would include
			// the replacement instance the deadline starts (its
			// _initialize), which under qemu-user alone cost 40-50 ms.
			cpu := cpuBetween(50*time.Millisecond, deadline-50*time.Millisecond)
			var err error
			wall := wallOf(func() {
				_, err = m.Serve(context.Background(), &abi.Request{Method: "GET", URI: "/sleep?ms=30000"})
			})
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Serve = %v, want ErrTimeout", err)
			}
			// Generous for a loaded machine, far from the 30 s asked for.
			if wall < deadline || wall > deadline+5*time.Second {
				t.Errorf("answered after %v, want the deadline (%v)", wall, deadline)
			}
			waitFor(t, "the sleeping call to end", func() bool {
				st := m.Stats()
				return st.Running == 0 && st.InstancesDiscarded == before.InstancesDiscarded+1
			})
			ended := time.Since(start)
			if ended > 10*time.Second {
				t.Errorf("the call ended %v after it began, want about the deadline (%v)", ended, deadline)
			}
			slept := <-cpu
			t.Logf("answered after %v, %v of CPU in 200 ms of the sleep, the call ended after %v", wall, slept, ended)
			if slept > sleepCPU {
				t.Errorf("used %v of CPU in 200 ms of the sleep, want < %v (the sleep spins)", slept, sleepCPU)
			}
			resp, err := m.Serve(context.Background(), &abi.Request{Method: "GET", URI: "/ping"})
			if err != nil || string(resp.Body) != "pong" {
				t.Errorf("/ping on the replacement: %q, %v", resp.Body, err)
			}
			if st := m.Stats(); st.InstancesCreated != before.InstancesCreated+1 {
				t.Errorf("%d instances created after the timeout, want 1 (a replacement)", st.InstancesCreated-before.InstancesCreated)
			}
		})
	}
}

// TestSleepInTrigger: the timer "slow" of the messaging guests sleeps
// 350 ms, with Go's time.Sleep and Rust's std::thread::sleep (one
// poll_oneoff, which returned at once before instances had a real
// nanosleep); the message "slow" sleeps 2 s, past a 300 ms deadline, and
// is answered ErrTimeout at the deadline, in both modes.
func TestSleepInTrigger(t *testing.T) {
	for _, g := range msgGuests {
		for _, mode := range []DeadlineMode{DeadlineInterrupt, DeadlineFast} {
			t.Run(g.name+"/"+mode.String(), func(t *testing.T) { testSleepInTrigger(t, g.wasm(t), mode) })
		}
	}
}

func testSleepInTrigger(t *testing.T, wasm []byte, mode DeadlineMode) {
	m := loadMsg(t, wasm, EngineCompiler, Config{
		PoolSize:  1,
		Deadline:  mode,
		Publish:   PublishPolicy{Allow: []string{"#"}, Rate: 1000},
		Publisher: &recorder{},
		Triggers:  []string{abi.ExportOnMessage, abi.ExportOnTimer},
	})
	tick := func(name string) error {
		st, err := m.Tick(context.Background(), &abi.Timer{Name: name})
		if err == nil && st != abi.TriggerOK {
			err = fmt.Errorf("status %d", st)
		}
		return err
	}
	if err := tick("tick"); err != nil { // the instance is warm
		t.Fatal(err)
	}
	var err error
	cpu := cpuBetween(50*time.Millisecond, 300*time.Millisecond)
	wall := wallOf(func() { err = tick("slow") })
	if err != nil {
		t.Fatalf("Tick(slow): %v", err)
	}
	slept := <-cpu
	t.Logf("350 ms of sleep: %v, %v of CPU in 250 ms of it", wall, slept)
	if wall < 350*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 350 ms", wall)
	}
	if slept > sleepCPU {
		t.Errorf("used %v of CPU in 250 ms of the sleep, want < %v (the sleep spins)", slept, sleepCPU)
	}

	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	wall = wallOf(func() {
		_, err = m.Deliver(ctx, &abi.Message{Filter: "edge/v1/dev/{device}/in/t/#", Topic: "edge/v1/dev/d/in/t/x", Payload: []byte("slow")})
	})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Deliver(slow) = %v, want ErrTimeout", err)
	}
	if wall < deadline || wall > deadline+time.Second {
		t.Errorf("Deliver(slow) answered after %v, want the deadline (%v), not the 2 s of sleep", wall, deadline)
	}
}

// TestSleepInInitialize: an instance whose _initialize sleeps past the
// deadline (initfail with a "sleep" setting: 60 s in one poll_oneoff) is
// not created: Load fails with ErrTimeout at the deadline, in both modes.
func TestSleepInInitialize(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, mode := range []DeadlineMode{DeadlineInterrupt, DeadlineFast} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newTestEngine(t, EngineCompiler)
			cfg := Config{Name: "initfail", PoolSize: 1, Deadline: mode, Settings: map[string]string{"sleep": "1"},
				Limits: Limits{Deadline: deadline}}
			var err error
			wall := wallOf(func() {
				var m *Module
				if m, err = e.Load(context.Background(), guest(t, "initfail"), cfg); err == nil {
					m.Close(context.Background())
				}
			})
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Load = %v, want ErrTimeout", err)
			}
			if wall < deadline || wall > deadline+5*time.Second {
				t.Errorf("Load failed after %v, want the deadline (%v)", wall, deadline)
			}
		})
	}
}
