package rust

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edge/tests/harness"
)

var (
	agentReady  = regexp.MustCompile(`serving .* on (http://[0-9.:]+)`)
	nativeReady = regexp.MustCompile(`serving on (http://[0-9.:]+)`)
)

// server is one build of the order service, running.
type server struct {
	name   string
	base   string
	native bool // orders-native: net/http without the agent's limits and headers
}

// startServers runs the Go module and the Rust module under edge-agent
// serve, and the native build, each on the database dsn(name) returns.
// agentArgs are added to both agents' flags; extra(name), if not nil, to
// the named module's ("go" or "rust").
func startServers(t *testing.T, dsn func(name string) string, extra func(name string) []string, agentArgs ...string) []*server {
	t.Helper()
	goWasm := harness.Bin(t, "orders.wasm")
	rsWasm := harness.RustBin(t, "orders-rs.wasm")
	agent := harness.Bin(t, "edge-agent")
	var out []*server
	for _, m := range []struct{ name, wasm string }{{"go", goWasm}, {"rust", rsWasm}} {
		args := append([]string{"serve", m.wasm, "--http", "127.0.0.1:0", "--db", dsn(m.name),
			"--data", filepath.Join(t.TempDir(), "state")}, agentArgs...)
		if extra != nil {
			args = append(args, extra(m.name)...)
		}
		_, base := harness.Start(t, agentReady, nil, time.Minute, agent, args...)
		out = append(out, &server{name: m.name, base: base})
	}
	_, base := harness.Start(t, nativeReady, nil, time.Minute, harness.Bin(t, "orders-native"),
		"--http", "127.0.0.1:0", "--db", dsn("native"))
	return append(out, &server{name: "native", base: base, native: true})
}

// answer is what a server said, reduced to what must agree.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    string // no HTTP answer: how the exchange failed
}

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
}

// do sends r and reads the whole answer.
func (s *server) do(r request) answer {
	if r.raw != "" {
		return s.doRaw(r.raw)
	}
	var body io.Reader
	if r.body != "" || r.method == "POST" || r.method == "PUT" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, s.base+"/", body)
	if err != nil {
		return answer{err: err.Error()}
	}
	// The target as written (without a fragment, which clients never
	// send): NewRequest would re-encode an odd one.
	target, _, _ := strings.Cut(r.target, "#")
	req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(target, "?")
	for k, v := range r.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v}
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: "no answer"}
	}
	return readAnswer(resp)
}

// doRaw writes raw on a new connection and reads one response.
func (s *server) doRaw(raw string) answer {
	u, _ := url.Parse(s.base)
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return answer{err: err.Error()}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return answer{err: "write failed"}
	}
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return answer{err: "no answer"}
	}
	return readAnswer(resp)
}

func readAnswer(resp *http.Response) answer {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: "body cut short"}
	}
	h := resp.Header.Clone()
	h.Del("Date")
	return answer{status: resp.StatusCode, header: h, body: b}
}

// nativeView keeps what the native build must share with the modules: it
// runs under plain net/http, without the agent's Server header and with
// its own Content-Length and chunking rules.
func (a answer) nativeView() answer {
	h := http.Header{}
	for k, v := range a.header {
		if k == "Content-Type" || k == "Allow" || strings.HasPrefix(k, "Access-Control-") {
			h[k] = v
		}
	}
	return answer{status: a.status, header: h, body: a.body, err: a.err}
}

func (a answer) String() string {
	if a.err != "" {
		return a.err
	}
	var keys []string
	for k := range a.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d", a.status)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %q", k, a.header[k])
	}
	body := a.body
	if len(body) > 400 {
		body = append(append([]byte(nil), body[:400]...), "…"...)
	}
	fmt.Fprintf(&b, "\n  body (%d bytes): %q", len(a.body), body)
	return b.String()
}

func (a answer) equal(o answer) bool {
	if a.err != o.err || a.status != o.status || !bytes.Equal(a.body, o.body) || len(a.header) != len(o.header) {
		return false
	}
	for k, v := range a.header {
		w, ok := o.header[k]
		if !ok || strings.Join(v, "\x00") != strings.Join(w, "\x00") {
			return false
		}
	}
	return true
}

// compareServers sends each request to every server in turn and requires
// the Rust module to answer exactly as the Go module (status, every header
// but Date, body bytes), and the native build to agree on status, body and
// the headers it shares. It returns the Go module's answers.
func compareServers(t *testing.T, servers []*server, reqs []request) []answer {
	t.Helper()
	var goAnswers []answer
	failures := 0
	for i, r := range reqs {
		got := make([]answer, len(servers))
		for j, s := range servers {
			got[j] = s.do(r)
		}
		ref := got[0]
		goAnswers = append(goAnswers, ref)
		if ref.err != "" {
			t.Errorf("request %d (%s): the Go module gave no answer: %s", i, r.name, ref.err)
		}
		for j, s := range servers[1:] {
			a, want := got[j+1], ref
			if s.native {
				a, want = a.nativeView(), want.nativeView()
			}
			if !a.equal(want) {
				failures++
				t.Errorf("request %d (%s): %s answered\n%s\nthe Go module\n%s", i, r.name, s.name, a, want)
			}
		}
		if failures > 20 {
			t.Fatalf("stopping after %d differences", failures)
		}
	}
	return goAnswers
}

// checkCoverage makes sure the list exercised what it claims: a list
// that silently turned into 404s would compare equal and prove nothing.
func checkCoverage(t *testing.T, answers []answer) {
	t.Helper()
	seen := map[int]int{}
	for _, a := range answers {
		seen[a.status]++
	}
	for _, status := range []int{200, 400, 404, 405, 413, 500} {
		if seen[status] == 0 {
			t.Errorf("no request was answered %d (statuses seen: %v)", status, seen)
		}
	}
	if seen[400] < 35 {
		t.Errorf("%d answers were 400, want the 35-odd bad inputs of the list", seen[400])
	}
	if last := answers[len(answers)-1]; last.status != 200 || !bytes.Contains(last.body, []byte(`"order_id":1499`)) ||
		!bytes.Contains(last.body, []byte(`"order_id":8999`)) {
		t.Errorf("the last listing does not hold the 500 and 5,000 orders inserted before it: %.200s", last.body)
	}
}

// TestDifferentialSQLite sends the list of extra requests to the Go
// module, the Rust module and the native build, each on a SQLite file of
// its own.
func TestDifferentialSQLite(t *testing.T) {
	dir := t.TempDir()
	servers := startServers(t, func(name string) string { return "sqlite:" + filepath.Join(dir, name+".db") }, nil)
	checkCoverage(t, compareServers(t, servers, extraRequests(t)))
}

// TestDifferentialMySQL does the same on the machine's MariaDB, each
// server in a database of its own.
func TestDifferentialMySQL(t *testing.T) {
	servers := startServers(t, func(string) string { return harness.MySQLDatabase(t, "rust") }, nil)
	checkCoverage(t, compareServers(t, servers, extraRequests(t)))
}

// TestDatabaseDown sends the conformance table's requests and the extra
// ones to the three builds bound to a MySQL server that refuses
// connections: every request that needs the database is a 503 with the
// same body, the others are served as usual.
func TestDatabaseDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	servers := startServers(t, func(string) string { return "mysql://u:p@" + addr + "/orders" }, nil)
	answers := compareServers(t, servers, append(tableRequests(), extraRequests(t)...))
	seen := map[int]int{}
	for _, a := range answers {
		seen[a.status]++
	}
	if seen[503] < 60 || seen[400] < 100 || seen[200] == 0 {
		t.Errorf("statuses %v: want 503 for each database request, 400 for bad input, 200 for the rest", seen)
	}
}

// TestListOverResultLimit: a table larger than one SQL result of the host
// may hold (4 MiB) is answered 507 naming the limit by both modules, the
// same bytes (the native build has no such limit).
func TestListOverResultLimit(t *testing.T) {
	dir := t.TempDir()
	servers := startServers(t, func(name string) string { return "sqlite:" + filepath.Join(dir, name+".db") }, nil)[:2]
	reqs := []request{get("/init")}
	long := `"` + strings.Repeat("a", 256) + `"`
	rows := make([]string, 2500)
	for i := range 10 { // 10 × 2,500 orders with 256-character addresses
		for j := range rows {
			rows[j] = order(i*len(rows)+j, "1.0", long)
		}
		reqs = append(reqs, post(fmt.Sprintf("2,500 long orders, %d of 10", i+1), "/create_orders", "["+strings.Join(rows, ",")+"]"))
	}
	reqs = append(reqs, get("/orders"))
	answers := compareServers(t, servers, reqs)
	if last := answers[len(answers)-1]; last.status != 507 ||
		!bytes.Contains(last.body, []byte(`{"error":"list orders: result over the host's limit of 4194304 bytes per SQL result; page through them with GET /orders?limit=N\u0026after=ID (N up to 1000, ID the last order_id of the page before)"}`)) {
		t.Errorf("GET /orders of 25,000 long orders = %s, want 507 naming the limit", last)
	}
}

// TestConcurrentClients: many clients at once on a pool of four instances,
// each creating orders, sending a bad one and listing. Every answer must
// be the one a lone client gets, and both modules must end with the same
// table, every order stored once.
func TestConcurrentClients(t *testing.T) {
	dir := t.TempDir()
	servers := startServers(t, func(name string) string { return "sqlite:" + filepath.Join(dir, name+".db") }, nil, "--pool", "4")
	const clients, rounds = 16, 10
	bad := post("bad order", "/create_order", withField(`"quantity":2`, `"quantity":2.5`))
	var final []answer
	for _, s := range servers {
		if a := s.do(get("/init")); a.status != 200 {
			t.Fatalf("%s: init: %s", s.name, a)
		}
		badWant := s.do(bad)
		errs := make(chan string, clients*rounds*3)
		done := make(chan struct{})
		for c := range clients {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range rounds {
					id := c*rounds + i + 1
					if a := s.do(post("create", "/create_order", order(id, fmt.Sprintf("%d.5", id), fmt.Sprintf(`"client %d"`, c)))); a.status != 200 || string(a.body) != statusTrue {
						errs <- fmt.Sprintf("%s: create %d: %s", s.name, id, a)
					}
					if a := s.do(bad); !a.equal(badWant) {
						errs <- fmt.Sprintf("%s: bad order under load: %s, alone: %s", s.name, a, badWant)
					}
					if a := s.do(get("/orders")); a.status != 200 || !bytes.HasPrefix(a.body, []byte("[")) {
						errs <- fmt.Sprintf("%s: list: %s", s.name, a)
					}
				}
			}()
		}
		for range clients {
			<-done
		}
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		a := s.do(get("/orders"))
		if n := bytes.Count(a.body, []byte(`"order_id":`)); n != clients*rounds {
			t.Errorf("%s: %d orders stored, want %d", s.name, n, clients*rounds)
		}
		final = append(final, a)
	}
	for i, s := range servers[1:] {
		if !final[i+1].nativeView().equal(final[0].nativeView()) || (!s.native && !final[i+1].equal(final[0])) {
			t.Errorf("%s ends with\n%s\nthe Go module with\n%s", s.name, final[i+1], final[0])
		}
	}
}

// TestDifferentialInterpreter runs the Rust module on wazero's
// interpreter, the engine of armv7 and riscv64 boards, against the Go
// module on the compiler: the answers must not depend on the engine, nor
// on the language (tests/conformance runs the table on both modules on
// both engines).
func TestDifferentialInterpreter(t *testing.T) {
	dir := t.TempDir()
	interpreter := func(name string) []string {
		if name == "rust" {
			return []string{"--engine", "interpreter"}
		}
		return nil
	}
	servers := startServers(t, func(name string) string { return "sqlite:" + filepath.Join(dir, name+".db") }, interpreter)
	checkCoverage(t, compareServers(t, servers, extraRequests(t)))
}

// TestExtrasAreNotInTheTable: the extra requests add to the conformance
// table and repeat none of its requests (one list of each request).
func TestExtrasAreNotInTheTable(t *testing.T) {
	table := map[string]string{}
	for _, r := range tableRequests() {
		table[r.key()] = r.name
	}
	for _, r := range extraRequests(t) {
		if name, ok := table[r.key()]; ok && r.key() != get("/init").key() && r.key() != get("/orders").key() {
			t.Errorf("extra request %q is the conformance case %q", r.name, name)
		}
	}
}

// key identifies what a request sends.
func (r request) key() string {
	if r.raw != "" {
		return r.raw
	}
	hs := make([]string, 0, len(r.header))
	for k, v := range r.header {
		hs = append(hs, k+": "+v)
	}
	sort.Strings(hs)
	return fmt.Sprintf("%s %s %q %q", r.method, r.target, hs, r.body)
}
