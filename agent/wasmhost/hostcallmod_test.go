package wasmhost

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// routes is a Router over a map filled once the test servers run.
type routes struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *routes) Route(name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[name]; ok {
		return a, nil
	}
	return "", fmt.Errorf("module %q: %w", name, ErrNoModule)
}

const testSecret = "s3cret"

// callModules serves the guest as each of names, each allowed to call
// the modules calls lists for it.
func callModules(t *testing.T, limits Limits, calls map[string][]string, names ...string) map[string]string {
	t.Helper()
	r := &routes{m: map[string]string{}}
	urls := map[string]string{}
	for _, n := range names {
		_, srv := capModule(t, EngineCompiler, Config{Name: n + "@1.0.0", PoolSize: 1, Limits: limits,
			Calls: calls[n], Router: r, CallSecret: testSecret})
		u, _ := url.Parse(srv.URL)
		r.mu.Lock()
		r.m[n] = u.Host
		r.mu.Unlock()
		urls[n] = srv.URL
	}
	return urls
}

func TestCall(t *testing.T) {
	u := callModules(t, Limits{}, map[string][]string{"a": {"a", "b", "gone"}, "b": {"a"}}, "a", "b", "c")
	q := url.QueryEscape
	for _, tt := range []struct {
		name, url string
		header    []string
		status    int
		body      string
	}{
		{"granted, with the caller's name", u["a"] + "/call?module=b&path=" + q("/whoami"), nil, 200, "a"},
		{"a client's Edge-Caller is removed", u["b"] + "/whoami", []string{"Edge-Caller", "a"}, 200, ""},
		{"a wrong secret proves nothing", u["b"] + "/whoami", []string{"Edge-Caller", "a", "Edge-Call-Auth", "guess"}, 200, ""},
		{"the secret proves the caller", u["b"] + "/whoami", []string{"Edge-Caller", "x", "Edge-Call-Auth", testSecret}, 200, "x"},
		{"denied by the manifest", u["a"] + "/call?module=c&path=" + q("/ping"), nil, 403, `module "c" is not in this module's capabilities.call`},
		{"callee missing", u["a"] + "/call?module=gone&path=" + q("/ping"), nil, 503, `module "gone": module does not run on this device`},
		{"callee's status passed on", u["a"] + "/call?module=b&path=" + q("/nothing-here"), nil, 404, ""},
		{"loop refused", u["a"] + "/chain?next=b,a", nil, 403, "call loop refused: a → b → a"},
		// The manifest cannot list the module itself; the host refuses
		// the loop all the same.
		{"self-call refused", u["a"] + "/chain?next=a", nil, 403, "call loop refused: a → a"},
		// A chain of 3 modules so far plus b: b's call is the fourth.
		{"fourth call allowed", u["b"] + "/chain?next=a", []string{"Edge-Call-Auth", testSecret, "Edge-Call-Chain", "x,y,z"}, 200, "end"},
		{"fifth call refused", u["b"] + "/chain?next=a", []string{"Edge-Call-Auth", testSecret, "Edge-Call-Chain", "w,x,y,z"}, 403, "call chain too deep: w → x → y → z → b → a is over 4 calls"},
		{"a forged chain counts for nothing", u["b"] + "/chain?next=a", []string{"Edge-Call-Chain", "w,x,y,z"}, 200, "end"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, "GET", tt.url, "", tt.header...)
			if a.status != tt.status || !strings.Contains(a.body, tt.body) {
				t.Fatalf("= %d %q, want %d containing %q", a.status, a.body, tt.status, tt.body)
			}
		})
	}
}

// TestCallDeadline: a call ends by the caller's timeout, and by what is
// left of the caller's own deadline when it gives none.
func TestCallDeadline(t *testing.T) {
	u := callModules(t, Limits{Deadline: 2 * time.Second}, map[string][]string{"a": {"b"}}, "a", "b")
	q := url.QueryEscape
	start := time.Now()
	a := do(t, "GET", u["a"]+"/call?module=b&timeout_ms=300&path="+q("/sleep?ms=5000"), "")
	if took := time.Since(start); a.status != 504 || took > 1500*time.Millisecond {
		t.Fatalf("call with a 300 ms timeout = %d %q after %v, want 504 within 1.5 s", a.status, a.body, took)
	}
	// No timeout of its own: the caller's 2 s deadline less its reserve
	// (200 ms) bounds it, and the caller still answers itself.
	start = time.Now()
	a = do(t, "GET", u["a"]+"/call?module=b&path="+q("/sleep?ms=5000"), "")
	if took := time.Since(start); a.status != 504 || took > 2*time.Second || took < time.Second {
		t.Fatalf("call within a 2 s deadline = %d %q after %v, want the guest's 504 at about 1.8 s", a.status, a.body, took)
	}
	switch {
	case strings.Contains(a.body, "call GET b/sleep"), strings.Contains(a.body, "timeout"):
	case strings.Contains(a.body, "did not answer in time"):
		// The host's own 504 at the deadline: on a loaded machine the
		// caller may not get to answer within its 200 ms reserve. The
		// call was still bounded by the deadline (checked above).
		t.Logf("the host answered at the deadline, not the caller: %q", a.body)
	default:
		t.Fatalf("body %q does not say the call timed out", a.body)
	}
}
