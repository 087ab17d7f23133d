package rust

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edge/tests/conformance"
	"github.com/edgeplane/edge/tests/harness"
)

// A request is one step of a list the differential tests send: every
// server gets the same steps in the same order, so their databases stay
// alike and every answer can be compared.
//
// The order service's contract is the table of tests/conformance, which
// runs on the Rust module too (on both engines and databases, each answer
// compared with the Go module's, every header included). tableRequests
// turns that table into steps; extraRequests holds what this package adds
// to it and must not repeat it (TestExtrasAreNotInTheTable).
type request struct {
	name   string
	method string
	target string // request target: path and query, sent as is
	header map[string]string
	body   string
	// raw, when set, is sent on the connection verbatim instead of the
	// fields above: request lines and headers an HTTP client would refuse
	// or rewrite.
	raw string
}

const (
	statusTrue = `{"status":true}`
	o1         = `{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`
)

func get(target string) request { return request{name: "GET " + target, method: "GET", target: target} }

func post(name, target, body string) request {
	return request{name: name, method: "POST", target: target, body: body}
}

// withField returns o1 with one field's value replaced: `"quantity":2`
// and `"quantity":2.5` give a quantity of 2.5.
func withField(old, new string) string { return strings.Replace(o1, old, new, 1) }

// order returns an order with the given id and raw JSON values.
func order(id int, amount, address string) string {
	return fmt.Sprintf(`{"order_id":%d,"product_id":7,"quantity":3,"amount":%s,"shipping":1.5,"tax":0.25,"shipping_address":%s}`,
		id, amount, address)
}

// fromCase is the request of a conformance case.
func fromCase(c *conformance.Case) request {
	r := request{name: c.Name, method: c.Req.Method, target: c.Req.Target, header: c.Req.Header, body: c.Req.Body}
	if c.Req.Chunked {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", r.method, r.target)
		if r.body != "" {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(r.body), r.body)
		}
		b.WriteString("0\r\n\r\n")
		r.raw = b.String()
	}
	return r
}

// tableRequests is the conformance table as steps: each case's request
// alone, without the reset and seed the suite runs before it (for the
// tests here that need no such state: a database that is down, fuzz
// seeds).
func tableRequests() []request {
	var rs []request
	for _, c := range conformance.Cases(conformance.Config{BodyLimit: bodyLimit}) {
		rs = append(rs, fromCase(&c))
	}
	return rs
}

// extraRequests is what the differential tests send beyond the
// conformance table: requests before the table exists, more malformed
// bodies and odd ids, values whose text must come back byte for byte
// (floats, escapes, invalid UTF-8), every method on every path, odd
// paths, raw request lines, and long arrays.
func extraRequests(t testing.TB) []request {
	var rs []request
	add := func(r ...request) { rs = append(rs, r...) }

	// Before /init there is no table: a database error that is not an
	// outage (500).
	before := order(1, "56.0", `"before"`)
	add(get("/orders"), post("create before init", "/create_order", before),
		get("/delete_order?id=1"), post("update before init", "/update_order", before))

	// The demo's data (deploy/demo), then what the table's echo cases
	// leave out.
	add(get("/init"),
		post("seed orders", "/create_orders", harness.ReadFile(t, "deploy/demo/orders.json")),
		post("seed one order", "/create_order", harness.ReadFile(t, "deploy/demo/order.json")),
		post("echo without type", "/echo", "hello"),
		request{name: "echo empty type", method: "POST", target: "/echo", body: "x", header: map[string]string{"Content-Type": ""}},
	)

	// Bad input: each is 400 and changes nothing (the listing after shows it).
	for _, b := range []struct{ name, target, body string }{
		{"amount bad number", "/create_order", withField(`"amount":56.0`, `"amount":56.`)},
		{"amount bad exponent", "/create_order", withField(`"amount":56.0`, `"amount":5e+`)},
		{"tax bad literal", "/create_order", withField(`"tax":2.0`, `"tax":nul`)},
		{"address a nested object", "/create_order", withField(`"Mataderos 2312"`, `{"a":[1,{"b":null}]}`)},
		{"order_id just over 64 bits", "/create_order", withField(`"order_id":1`, `"order_id":9223372036854775808`)},
		{"missing everything", "/create_order", `{}`},
		{"field twice, second bad", "/create_order", withField(`"tax":2.0`, `"tax":2.0,"tax":"x"`)},
		{"address of 257 two-byte characters", "/create_order", order(9, "1.0", `"`+strings.Repeat("é", 257)+`"`)},
		{"address of 257 escapes", "/create_order", order(9, "1.0", `"`+strings.Repeat(`\u00e9`, 257)+`"`)},
		{"garbage after the object", "/create_order", o1 + `x`},
		{"array bad separator", "/create_orders", `[` + o1 + ` ` + o1 + `]`},
		{"object missing colon", "/create_order", `{"order_id" 1}`},
		{"object bad separator", "/create_order", `{"order_id":1;"x":2}`},
		{"unterminated string value", "/create_order", withField(`"Mataderos 2312"}`, `"Mataderos`)},
		{"bad unicode escape", "/create_order", withField(`Mataderos 2312`, `Mata\u12G4`)},
		{"escape at the end", "/create_order", `{"shipping_address":"\`},
		{"nested too deep at the top", "/create_order", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
		{"objects nested too deep in an unknown field", "/create_order", `{"x":` + strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat("}", 10001) + `}`},
		{"nested just deep enough, wrong type", "/create_order", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
		{"invalid first byte", "/create_order", "\xff"},
		{"create_orders empty body", "/create_orders", ``},
		{"create_orders null", "/create_orders", `null`},
	} {
		add(post(b.name, b.target, b.body))
	}
	add(get("/orders"))
	for _, target := range []string{
		"/delete_order?id", "/delete_order?id=-2147483649", "/delete_order?id=%ff", "/delete_order?id=%E2%80%8B",
		"/delete_order?id=%2B5", "/delete_order?id=%20", "/delete_order?id=1;x=2", "/delete_order?id=%22%5C%07",
		"/delete_order?id=%C3%A9%F0%9F%98%80", "/delete_order?x=1", "/delete_order?id=0x10",
		"/delete_order?id=007", "/delete_order?id=-0", "/delete_order?id=1&id=abc",
	} {
		add(get(target))
	}
	add(get("/orders"))

	// Values at their edges, stored and listed back: the text of each
	// must come back byte for byte.
	add(get("/init"))
	for i, v := range []struct{ amount, address string }{
		{"0.1", `"Straße \"7\" <b>&amp;</b>"`},
		{"1e-7", `"\u2028\u2029 line separators"`},
		{"1e21", `"\ud83d\ude00 surrogate pair"`},
		{"-0.0", `"\ud83d lone surrogate"`},
		{"5e-324", `"\udc00 low surrogate first"`},
		{"1.7976931348623157e308", `"invalid \u0000 NUL \u001f"`},
		{"123456789.123", "\"raw\xe2\x82 truncated utf8\xff\""},
		{"1e20", `"\/ solidus \b\f\n\r\t"`},
		{"-1.5E+2", `"` + strings.Repeat("é", 256) + `"`},
		{"0.000001", `""`},
		{"100000000000000000000000", `"x"`},
		{"1E-7", `"日本語"`},
	} {
		add(post(fmt.Sprintf("edge value %d", i), "/create_order", order(100+i, v.amount, v.address)))
	}
	add(get("/orders"),
		post("unknown fields with a bracket in a string", "/create_order", `{"note":{"x":[1,2,"]"]},"order_id":200,"product_id":1,"quantity":1,"amount":1,"shipping":2,"tax":3,"shipping_address":"a","more":null}`),
		post("create_orders with white space", "/create_orders", "\n\t[\r\n"+order(300, "3", `"ws"`)+" , "+order(301, "4", `"ws"`)+"\n]\n"),
		get("/orders"))

	// Every method on every path, but those the table has.
	inTable := map[string]bool{}
	for _, r := range tableRequests() {
		inTable[r.key()] = true
	}
	own := map[string]string{"/": "GET", "/echo": "POST", "/init": "GET", "/create_order": "POST",
		"/create_orders": "POST", "/orders": "GET", "/update_order": "POST", "/delete_order": "GET"}
	for _, path := range []string{"/", "/echo", "/init", "/create_order", "/create_orders", "/orders", "/update_order", "/delete_order"} {
		for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
			r := request{name: m + " " + path, method: m, target: path, body: map[bool]string{true: "[]"}[m == "POST" || m == "PUT"]}
			if m != own[path] && !inTable[r.key()] {
				add(r)
			}
		}
	}
	for _, target := range []string{"/orders%3F", "/no/such/path", "/%E2%82%AC", "/%ff", "/echo/", "/./orders", "/orders#frag"} {
		add(get(target))
	}
	add(request{name: "BREW", method: "BREW", target: "/orders"})

	// Request lines an HTTP client would not send (the table has the
	// forms of request target).
	for _, raw := range []string{
		"GET //orders HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /orders HTTP/1.0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/\xff\xfe\r\nContent-Length: 3\r\n\r\nabc",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /create_order HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"a\":",
	} {
		add(request{name: "raw " + strings.SplitN(raw, "\r\n", 2)[0], raw: raw})
	}

	// Limits: a declared body over the agent's 1 MiB limit is refused
	// before any module runs; long arrays insert in one transaction, by
	// batches of 256, 16 and 1 in both modules.
	add(get("/init"),
		request{name: "declared body over the limit, not sent",
			raw: fmt.Sprintf("POST /create_orders HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", bodyLimit+1)},
		post("500 orders", "/create_orders", manyOrders(1000, 500)),
		post("5,000 orders", "/create_orders", manyOrders(4000, 5000)),
		get("/orders"))
	return rs
}

// bodyLimit is the agent's default request body limit.
const bodyLimit = 1 << 20

// manyOrders returns a JSON array of n orders with ids from first.
func manyOrders(first, n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(order(first+i, fmt.Sprintf("%d.%02d", i, i%100), fmt.Sprintf(`"street %d"`, i)))
	}
	b.WriteByte(']')
	return b.String()
}
