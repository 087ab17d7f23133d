package wasmhost

import (
	"strings"
	"testing"
)

// TestGuestEnv checks what a guest's runtime reads from its WASI
// environment: GOGC, and GOMEMLIMIT at three quarters of the instance's
// memory limit.
func TestGuestEnv(t *testing.T) {
	for _, kind := range engines {
		t.Run(kind.String(), func(t *testing.T) {
			m := load(t, newTestEngine(t, kind), "environ", Config{Limits: Limits{MemoryPages: 16}})
			resp, err := serveBody(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 {
				t.Fatalf("status %d, want 200", resp.Status)
			}
			got := strings.Split(strings.TrimSuffix(string(resp.Body), "\x00"), "\x00")
			want := []string{"GOGC=" + guestGOGC, "GOMEMLIMIT=786432"} // 16 × 64 KiB × 3/4
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("guest environment %q, want %q", got, want)
			}
		})
	}
}
