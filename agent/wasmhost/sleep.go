package wasmhost

import (
	"fmt"
	"time"
)

// Guest sleep. A guest waits in WASI's poll_oneoff with a clock
// subscription: Go's time.Sleep and timers (its scheduler polls when no
// goroutine can run), Rust's std::thread::sleep. wazero's poll_oneoff
// waits with the module's sys.Nanosleep, which by default returns at once:
// Go's scheduler then polled until its clock said the time was up (a
// 200 ms sleep cost 100-150 ms of CPU, TestSleep), and Rust's sleep did not
// wait at all. Each instance therefore sleeps for real, on a timer, but
// never past the deadline of the guest code it runs (runCtx).

// nanosleep is the instance's sys.Nanosleep: it waits ns nanoseconds or
// until the context of the running guest code is done, and then unwinds
// the guest with ErrTimeout (in fast mode nothing else would stop it: Go's
// scheduler would poll again, spinning, until its sleep was over).
func (in *instance) nanosleep(ns int64) {
	ctx := in.runCtx
	if ctx.Err() == nil {
		t := time.NewTimer(time.Duration(ns))
		select {
		case <-t.C:
			return
		case <-ctx.Done():
			t.Stop()
		}
	}
	panic(hostAbort{fmt.Errorf("%w: guest asleep at its deadline: %w", ErrTimeout, ctx.Err())})
}
