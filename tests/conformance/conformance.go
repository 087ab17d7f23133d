// Package conformance is the HTTP conformance suite of the order service:
// the contract of the seed's demo (endpoints, JSON field names, success
// bodies, CORS) and the answers this project gives where the demo crashed
// (bad JSON of every shape, wrong types, limits, wrong methods, HEAD,
// unknown paths), as a table of requests with the status, headers and
// exact body each must get.
//
// It runs against any base URL and knows nothing of how the service is
// built, so the same table checks the native Go build, the Wasm build under
// `edge-agent serve` on either wazero engine, a worker of `edge-agent run`,
// and any other implementation of the contract:
//
//	go test ./tests/conformance -run TestURL -url http://127.0.0.1:8080
//
// (the service's database is reset with GET /init: never point it at a
// service whose data matters). Run returns every answer it got, so a test
// can also require that several targets answer byte for byte alike (see
// conformance_test.go, which does so for every build, engine and database
// in make test).
//
// Every case starts from the same state: GET /init, then the demo's five
// orders (POST /create_orders). A case that must not change the data
// checks GET /orders afterwards.
//
// Paging (GET /orders?limit=N&after=ID) is checked by the table's cases on
// the seed and by walks that follow each page's Link through 13 orders
// (Run); TestPagingOverResultLimit pages through more orders than one SQL
// result of the host may hold.
package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config says where the service is and what it may differ in.
type Config struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	// BodyLimit is the service's request body limit; default 1 MiB (the
	// agent's and orders-native's default).
	BodyLimit int64
	// ExactErrors compares the bodies of error answers byte for byte (the
	// messages of this project's builds). Without it an error answer
	// must be a JSON object with a non-empty string "error", for
	// implementations whose messages differ.
	ExactErrors bool
	// Clients and PerClient size the concurrency case; default 16 × 5.
	Clients, PerClient int
	// Timeout of one request; default 150 s (an interpreted guest is slow,
	// more so on a loaded machine; the agents get a 2 m deadline).
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = 1 << 20
	}
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.PerClient <= 0 {
		c.PerClient = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 150 * time.Second
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	return c
}

// Request is one HTTP request of a case.
type Request struct {
	Method, Target string // Target: path and query, sent as is
	Body           string
	Header         map[string]string
	// Chunked sends the body without a Content-Length.
	Chunked bool
}

// Answer is what the service answered.
type Answer struct {
	Status int
	Header map[string]string // every header but Date, values joined by ", "
	Body   string
}

// compared are the response headers that Compare requires to agree: those
// the native build and the agent both send (the agent adds Server, and
// net/http in front of the native build may send a long body chunked).
// CompareExact compares every header.
var compared = []string{"Content-Type", "Content-Length", "Allow", "Link",
	"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"}

// Case is one row of the table.
type Case struct {
	Name string
	Req  Request
	// Status is the status the service must answer.
	Status int
	// Body is the exact body of a success; for an error (Error set) the
	// exact body when Config.ExactErrors is set.
	Body  string
	Error bool
	// Header lists headers the answer must carry with these values.
	Header map[string]string
	// Orders, when not empty, is the exact body GET /orders must answer
	// after the request: "seed" for the seeded orders unchanged.
	Orders string
	// Fresh skips the seed: the case starts from an empty table.
	Fresh bool
	// ServerAnswer marks an answer given before the service's own code
	// runs (by the HTTP server in front of it, or by this project's SDK
	// refusing a request target it cannot parse): without ExactErrors only
	// its status is checked, and it carries no CORS headers.
	ServerAnswer bool
	// Semantic compares Orders as JSON values, not as text: for numbers
	// and strings that JSON writers may spell differently (1e21 or
	// 1e+21, "\u003c" or "<").
	Semantic bool
}

// The seed's CORS headers, on every answer of the service.
var cors = map[string]string{
	"Access-Control-Allow-Origin":  "*",
	"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
	"Access-Control-Allow-Headers": "api,Keep-Alive,User-Agent,Content-Type",
}

// Run runs every case of the table, and the concurrency case, as subtests
// of t, and returns the answers by case name.
func Run(t *testing.T, cfg Config) map[string]Answer {
	cfg = cfg.withDefaults()
	r := &runner{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}
	answers := map[string]Answer{}
	for _, c := range Cases(cfg) {
		t.Run(c.Name, func(t *testing.T) {
			a, ok := r.run(t, &c)
			if ok {
				answers[c.Name] = a
			}
		})
	}
	// 13 orders: a page of them all stays under the 2 KiB that net/http
	// in front of the native build sends with a Content-Length.
	for _, limit := range []int{3, 5, 13, 1000} {
		t.Run(fmt.Sprintf("paging through 13 orders by %d", limit), func(t *testing.T) {
			for i, a := range r.walk(t, 13, limit) {
				answers[fmt.Sprintf("paging through 13 orders by %d: page %d", limit, i+1)] = a
			}
		})
	}
	t.Run("concurrent clients", func(t *testing.T) { r.concurrent(t) })
	return answers
}

type runner struct {
	cfg    Config
	client *http.Client
}

// do sends one request.
func (r *runner) do(req Request) (Answer, error) {
	var body io.Reader = strings.NewReader(req.Body)
	if req.Chunked {
		body = io.MultiReader(body) // unknown length: sent chunked
	} else if req.Body == "" {
		body = nil
	}
	hr, err := http.NewRequest(req.Method, r.cfg.BaseURL+"/", body)
	if err != nil {
		return Answer{}, err
	}
	// Send the target exactly as written: no cleaning, no re-escaping.
	hr.URL.Opaque, hr.URL.RawQuery, hr.URL.ForceQuery = strings.Cut(req.Target, "?")
	for k, v := range req.Header {
		if strings.EqualFold(k, "Host") {
			hr.Host = v
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := r.client.Do(hr)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("read body: %w", err)
	}
	a := Answer{Status: resp.StatusCode, Header: map[string]string{}, Body: string(b)}
	for k, v := range resp.Header {
		if k != "Date" {
			a.Header[k] = strings.Join(v, ", ")
		}
	}
	return a, nil
}

// must sends req and fails the test unless it is answered 200.
func (r *runner) must(t *testing.T, req Request) Answer {
	t.Helper()
	a, err := r.do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Target, err)
	}
	if a.Status != 200 {
		t.Fatalf("%s %s = %d %.300q, want 200", req.Method, req.Target, a.Status, a.Body)
	}
	return a
}

func (r *runner) run(t *testing.T, c *Case) (Answer, bool) {
	t.Helper()
	r.must(t, Request{Method: "GET", Target: "/init"})
	if !c.Fresh {
		r.must(t, Request{Method: "POST", Target: "/create_orders", Body: SeedOrders})
	}
	a, err := r.do(c.Req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", c.Req.Method, c.Req.Target, err)
	}
	r.check(t, c, a)
	if c.Orders != "" {
		want := c.Orders
		if want == "seed" {
			want = SeedList
		}
		got := r.must(t, Request{Method: "GET", Target: "/orders"})
		if c.Semantic {
			if !sameJSON(got.Body, want) {
				t.Errorf("GET /orders afterwards: %.300q, want the same JSON values as %.300q", got.Body, want)
			}
		} else if got.Body != want {
			t.Errorf("GET /orders afterwards: %s", diff(got.Body, want))
		}
	}
	return a, true
}

func (r *runner) check(t *testing.T, c *Case, a Answer) {
	t.Helper()
	if a.Status != c.Status {
		t.Errorf("status %d, want %d (body %.300q)", a.Status, c.Status, a.Body)
	}
	switch {
	case c.ServerAnswer && !r.cfg.ExactErrors:
	case c.Error && !r.cfg.ExactErrors:
		var e struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal([]byte(a.Body), &e); err != nil || e.Error == nil || *e.Error == "" {
			t.Errorf("body %.300q, want a JSON object with a non-empty \"error\"", a.Body)
		}
	case a.Body != c.Body:
		t.Errorf("body %s", diff(a.Body, c.Body))
	}
	for k, v := range c.Header {
		if got := a.Header[k]; got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	// CORS on every answer of the service itself (the host's own 413
	// and 503 answers come before the service runs).
	if c.Status != http.StatusRequestEntityTooLarge && !c.ServerAnswer {
		for k, v := range cors {
			if got := a.Header[k]; got != v {
				t.Errorf("CORS header %s = %q, want %q", k, got, v)
			}
		}
	}
}

// walk stores n orders with scattered ids, in no order, and lists them
// page by page, limit at a time (follow): the pages must concatenate to
// GET /orders. It returns the pages' answers.
func (r *runner) walk(t *testing.T, n, limit int) []Answer {
	r.must(t, Request{Method: "GET", Target: "/init"})
	rows := make([]string, n)
	for i := range rows {
		id := (i*919)%1000 - 500 // distinct for n < 1000
		rows[i] = fmt.Sprintf(`{"order_id":%d,"product_id":%d,"quantity":1,"amount":1.5,"shipping":0.5,"tax":0.25,"shipping_address":"page %d"}`, id, i, i)
	}
	r.must(t, Request{Method: "POST", Target: "/create_orders", Body: "[" + strings.Join(rows, ",") + "]"})
	full := r.must(t, Request{Method: "GET", Target: "/orders"}).Body
	pages, joined := r.follow(t, n, limit)
	if joined != full {
		t.Errorf("the pages joined differ from GET /orders: %s", diff(joined, full))
	}
	return pages
}

// follow lists n orders page by page from GET /orders?limit=limit,
// following the Link of each page: every page but the last must be full
// and carry a Link, the last none. It returns the pages' answers and their
// orders joined as one JSON array.
func (r *runner) follow(t *testing.T, n, limit int) ([]Answer, string) {
	t.Helper()
	var pages []Answer
	var got []string
	target := "/orders?limit=" + itoa(limit)
	for target != "" && len(pages) <= n {
		a := r.must(t, Request{Method: "GET", Target: target})
		pages = append(pages, a)
		if body := strings.TrimSuffix(strings.TrimPrefix(a.Body, "["), "]"); body != "" {
			got = append(got, body)
		}
		target = ""
		if link := a.Header["Link"]; link != "" {
			next, ok := strings.CutSuffix(link, `>; rel="next"`)
			if !ok || !strings.HasPrefix(next, "</orders?") {
				t.Fatalf("page %d: Link %q, want </orders?...>; rel=\"next\"", len(pages), link)
			}
			target = next[1:]
		}
	}
	if want := (n + limit - 1) / limit; len(pages) != want {
		t.Errorf("%d pages of %d orders by %d, want %d", len(pages), n, limit, want)
	}
	return pages, "[" + strings.Join(got, ",") + "]"
}

// concurrent: Clients clients each create PerClient orders and list the
// orders after each, all at once; every request succeeds and every order
// is stored exactly once.
func (r *runner) concurrent(t *testing.T) {
	r.must(t, Request{Method: "GET", Target: "/init"})
	var wg sync.WaitGroup
	errs := make(chan string, r.cfg.Clients*r.cfg.PerClient*2)
	for c := range r.cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range r.cfg.PerClient {
				id := c*r.cfg.PerClient + i + 1
				body := fmt.Sprintf(`{"order_id":%d,"product_id":%d,"quantity":1,"amount":1.5,"shipping":0.5,"tax":0.25,"shipping_address":"client %d"}`, id, c, c)
				if a, err := r.do(Request{Method: "POST", Target: "/create_order", Body: body}); err != nil || a.Status != 200 || a.Body != StatusTrue {
					errs <- fmt.Sprintf("create %d: %d %.100q %v", id, a.Status, a.Body, err)
				}
				if a, err := r.do(Request{Method: "GET", Target: "/orders"}); err != nil || a.Status != 200 || !strings.HasPrefix(a.Body, "[") {
					errs <- fmt.Sprintf("list: %d %.100q %v", a.Status, a.Body, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var list []struct {
		OrderID int `json:"order_id"`
	}
	if err := json.Unmarshal([]byte(r.must(t, Request{Method: "GET", Target: "/orders"}).Body), &list); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, o := range list {
		ids = append(ids, o.OrderID)
	}
	want := make([]int, r.cfg.Clients*r.cfg.PerClient)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(ids, want) {
		t.Errorf("stored order ids %v, want 1..%d once each, in order", ids, len(want))
	}
}

// Compare reports the cases where two targets' answers differ in status,
// body or a header of compared: what any two builds of the service must
// agree on.
func Compare(t *testing.T, nameA string, a map[string]Answer, nameB string, b map[string]Answer) {
	t.Helper()
	compare(t, nameA, a, nameB, b, compared)
}

// CompareExact reports the cases where two targets' answers differ in
// status, body or any header but Date: what two modules under the same
// agent must agree on (the Go and the Rust order service).
func CompareExact(t *testing.T, nameA string, a map[string]Answer, nameB string, b map[string]Answer) {
	t.Helper()
	compare(t, nameA, a, nameB, b, nil)
}

// compare compares the answers to the cases both targets ran; headers
// names the headers compared, nil for all.
func compare(t *testing.T, nameA string, a map[string]Answer, nameB string, b map[string]Answer, headers []string) {
	t.Helper()
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		x, y := a[k], b[k]
		if _, ok := b[k]; !ok {
			continue
		}
		if x.Status != y.Status || x.Body != y.Body || !equalHeaders(x.Header, y.Header, headers) {
			t.Errorf("%s: %s answered %d %v %.200q; %s answered %d %v %.200q",
				k, nameA, x.Status, pick(x.Header, headers), x.Body, nameB, y.Status, pick(y.Header, headers), y.Body)
		}
	}
}

// pick returns the headers of h named in names (all for nil).
func pick(h map[string]string, names []string) map[string]string {
	if names == nil {
		return h
	}
	out := map[string]string{}
	for _, k := range names {
		if v, ok := h[k]; ok {
			out[k] = v
		}
	}
	return out
}

func equalHeaders(a, b map[string]string, names []string) bool {
	a, b = pick(a, names), pick(b, names)
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// itoa is strconv.Itoa, for the table.
func itoa(n int) string { return strconv.Itoa(n) }

// jsonString quotes s as the service writes strings.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// diff shows where got departs from want.
func diff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(i-60, 0)
	return fmt.Sprintf("differs at byte %d of %d (want %d bytes):\n got  ...%.200q\n want ...%.200q", i, len(got), len(want), got[from:], want[from:])
}

// sameJSON reports whether a and b are JSON documents of equal values.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
