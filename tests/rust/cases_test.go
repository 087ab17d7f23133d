package rust

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgeplane/edge/tests/harness"
)

// A request is one step of the conformance list: every server gets the
// same steps in the same order, so their databases stay alike and every
// answer can be compared.
//
// The list is plain data built by conformanceRequests; to run another
// suite against both modules (a shared HTTP conformance suite of the
// order service), produce its steps as requests and pass them to
// compareServers.
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
	// notNative says why the native build is not sent this request: the
	// answer comes from the agent (its body limit, its SQL call budget),
	// or from net/http in front of the native handler.
	notNative string
}

const (
	statusTrue = `{"status":true}`
	o1         = `{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`
	o5         = `{"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}`
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

// conformanceRequests is the list: the seed workflow, every bad input of
// modules/orders/orders_test.go and tests/e2e, wrong methods, unknown and
// odd paths, numbers and text at their edges, and the limits.
func conformanceRequests(t testing.TB) []request {
	var rs []request
	add := func(r ...request) { rs = append(rs, r...) }

	// Before /init there is no table: a database error that is not an
	// outage (500).
	add(get("/orders"), post("create before init", "/create_order", o1),
		get("/delete_order?id=1"), post("update before init", "/update_order", o1))

	// The demo's curl workflow (deploy/demo).
	add(get("/"), get("/init"),
		post("seed orders", "/create_orders", harness.ReadFile(t, "deploy/demo/orders.json")),
		get("/orders"),
		get("/delete_order?id=2"),
		get("/orders"),
		post("seed update", "/update_order", harness.ReadFile(t, "deploy/demo/update_order.json")),
		get("/orders"),
		post("seed one order", "/create_order", harness.ReadFile(t, "deploy/demo/order.json")),
		get("/orders"),
		request{name: "echo", method: "POST", target: "/echo", body: "hello\x00world", header: map[string]string{"Content-Type": "application/x-thing"}},
		post("echo without type", "/echo", "hello"),
		post("echo empty", "/echo", ""),
		request{name: "echo empty type", method: "POST", target: "/echo", body: "x", header: map[string]string{"Content-Type": ""}},
	)

	// Bad input: each is 400 and changes nothing (the listing after shows it).
	for _, b := range []struct{ name, target, body string }{
		{"truncated JSON", "/create_order", `{"order_id":1,`},
		{"empty body", "/create_order", ``},
		{"not JSON", "/create_order", `order_id=1`},
		{"quantity a string", "/create_order", withField(`"quantity":2`, `"quantity":"abc"`)},
		{"quantity a fraction", "/create_order", withField(`"quantity":2`, `"quantity":2.5`)},
		{"quantity with exponent", "/create_order", withField(`"quantity":2`, `"quantity":2e0`)},
		{"amount a string", "/create_order", withField(`"amount":56.0`, `"amount":"56"`)},
		{"amount too large", "/create_order", withField(`"amount":56.0`, `"amount":1e400`)},
		{"amount bad number", "/create_order", withField(`"amount":56.0`, `"amount":56.`)},
		{"amount bad exponent", "/create_order", withField(`"amount":56.0`, `"amount":5e+`)},
		{"amount leading zero", "/create_order", withField(`"amount":56.0`, `"amount":056`)},
		{"amount minus only", "/create_order", withField(`"amount":56.0`, `"amount":-`)},
		{"tax null", "/create_order", withField(`"tax":2.0`, `"tax":null`)},
		{"tax true", "/create_order", withField(`"tax":2.0`, `"tax":true`)},
		{"tax bad literal", "/create_order", withField(`"tax":2.0`, `"tax":nul`)},
		{"address a number", "/create_order", withField(`"Mataderos 2312"`, `2312`)},
		{"address an object", "/create_order", withField(`"Mataderos 2312"`, `{"a":[1,{"b":null}]}`)},
		{"order_id over 32 bits", "/create_order", withField(`"order_id":1`, `"order_id":2147483648`)},
		{"order_id under 32 bits", "/create_order", withField(`"order_id":1`, `"order_id":-2147483649`)},
		{"order_id over 64 bits", "/create_order", withField(`"order_id":1`, `"order_id":9223372036854775808`)},
		{"missing tax", "/create_order", withField(`"tax":2.0,`, ``)},
		{"missing everything", "/create_order", `{}`},
		{"field twice", "/create_order", withField(`"tax":2.0`, `"tax":2.0,"tax":3.0`)},
		{"field twice, second bad", "/create_order", withField(`"tax":2.0`, `"tax":2.0,"tax":"x"`)},
		{"address of 257 characters", "/create_order", order(9, "1.0", `"`+strings.Repeat("é", 257)+`"`)},
		{"address of 257 escapes", "/create_order", order(9, "1.0", `"`+strings.Repeat(`\u00e9`, 257)+`"`)},
		{"data after the object", "/create_order", o1 + ` {}`},
		{"garbage after the object", "/create_order", o1 + `x`},
		{"array for an object", "/create_order", `[` + o1 + `]`},
		{"object for an array", "/create_orders", o1},
		{"one bad order in the array", "/create_orders", `[` + o1 + `,{"order_id":"x"}]`},
		{"array not closed", "/create_orders", `[` + o1},
		{"array bad separator", "/create_orders", `[` + o1 + ` ` + o1 + `]`},
		{"array trailing comma", "/create_orders", `[` + o1 + `,]`},
		{"object trailing comma", "/create_order", `{"order_id":1,}`},
		{"object missing colon", "/create_order", `{"order_id" 1}`},
		{"object bad separator", "/create_order", `{"order_id":1;"x":2}`},
		{"object key not a string", "/create_order", `{order_id:1}`},
		{"unterminated string", "/create_order", withField(`"Mataderos 2312"}`, `"Mataderos`)},
		{"control character in string", "/create_order", withField(`Mataderos 2312`, "Mata\tderos")},
		{"bad escape", "/create_order", withField(`Mataderos 2312`, `Mata\xderos`)},
		{"bad unicode escape", "/create_order", withField(`Mataderos 2312`, `Mata\u12G4`)},
		{"short unicode escape", "/create_order", `{"shipping_address":"\u12`},
		{"escape at the end", "/create_order", `{"shipping_address":"\`},
		{"nested too deep", "/create_order", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
		{"nested too deep in an unknown field", "/create_order", `{"x":` + strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat("}", 10001) + `}`},
		{"nested just deep enough, wrong type", "/create_order", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
		{"invalid first byte", "/create_order", "\xff"},
		{"byte order mark", "/create_order", "\xef\xbb\xbf" + o1},
		{"update malformed", "/update_order", `{"order_id":3`},
		{"update missing fields", "/update_order", `{"order_id":3}`},
		{"create_orders empty body", "/create_orders", ``},
		{"create_orders null", "/create_orders", `null`},
	} {
		add(post(b.name, b.target, b.body))
	}
	add(get("/orders"))
	for _, target := range []string{
		"/delete_order", "/delete_order?id=", "/delete_order?id", "/delete_order?id=abc", "/delete_order?id=1.5",
		"/delete_order?id=2147483648", "/delete_order?id=-2147483649", "/delete_order?id=%ff", "/delete_order?id=%E2%80%8B",
		"/delete_order?id=+5", "/delete_order?id=%2B5", "/delete_order?id=%20", "/delete_order?id=%zz", "/delete_order?id=1;x=2",
		"/delete_order?id=%22%5C%07", "/delete_order?id=%C3%A9%F0%9F%98%80", "/delete_order?x=1", "/delete_order?id=0x10",
	} {
		add(get(target))
	}
	add(get("/delete_order?id=007"), get("/delete_order?id=-0"), get("/delete_order?id=1&id=abc"), get("/orders"))

	// Values at their edges, stored and listed back.
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
		post("unknown fields are ignored", "/create_order", `{"note":{"x":[1,2,"]"]},"order_id":200,"product_id":1,"quantity":1,"amount":1,"shipping":2,"tax":3,"shipping_address":"a","more":null}`),
		post("update missing order", "/update_order", order(999, "1", `"nowhere"`)),
		get("/delete_order?id=999"),
		post("create_orders empty array", "/create_orders", " [ ] "),
		post("create_orders with white space", "/create_orders", "\n\t[\r\n"+order(300, "3", `"ws"`)+" , "+order(301, "4", `"ws"`)+"\n]\n"),
		get("/orders"))

	// Methods and paths.
	own := map[string]string{"/": "GET", "/echo": "POST", "/init": "GET", "/create_order": "POST",
		"/create_orders": "POST", "/orders": "GET", "/update_order": "POST", "/delete_order": "GET"}
	for _, path := range []string{"/", "/echo", "/init", "/create_order", "/create_orders", "/orders", "/update_order", "/delete_order"} {
		for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
			if m == own[path] {
				continue // covered above
			}
			add(request{name: m + " " + path, method: m, target: path, body: map[bool]string{true: "[]"}[m == "POST" || m == "PUT"]})
		}
	}
	for _, target := range []string{"/order", "/orders/", "/ORDERS", "/%6Frders", "/orders?x=1", "/orders%3F", "/no/such/path",
		"/%E2%82%AC", "/%ff", "/echo/", "/./orders", "/orders#frag"} {
		add(get(target))
	}
	add(request{name: "OPTIONS on an unknown path", method: "OPTIONS", target: "/nowhere"},
		request{name: "BREW", method: "BREW", target: "/orders"})

	// Request lines an HTTP client would not send.
	for _, raw := range []string{
		"GET http://example.com/orders HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET //orders HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /orders HTTP/1.0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/\xff\xfe\r\nContent-Length: 3\r\n\r\nabc",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /create_order HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"a\":",
	} {
		add(request{name: "raw " + strings.SplitN(raw, "\r\n", 2)[0], raw: raw})
	}
	// The native build's net/http hands its handler an empty path here,
	// which its mux does not route; the agent hands modules "/?x=1".
	add(request{name: "raw absolute-form without a path", raw: "GET http://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
		notNative: "net/http gives the native handler an empty path"})

	// Limits: a body at the agent's 1 MiB limit is served, one byte more
	// is refused before any module runs; long arrays insert in one
	// transaction, by batches of 256, 16 and 1 in both modules.
	add(get("/init"))
	under := order(400, "1", `"limit"`)
	under = "[" + under + strings.Repeat(" ", bodyLimit-len(under)-2) + "]"
	over := fmt.Sprintf("%x\r\n%s \r\n0\r\n\r\n", bodyLimit+1, under)
	add(post("body at the limit", "/create_orders", under),
		request{name: "declared body over the limit", notNative: agentLimit,
			raw: fmt.Sprintf("POST /create_orders HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", bodyLimit+1)},
		request{name: "chunked body over the limit", notNative: agentLimit,
			raw: "POST /create_orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + over},
		post("500 orders", "/create_orders", manyOrders(1000, 500)),
		post("999 orders", "/create_orders", manyOrders(2000, 999)),
		post("5,000 orders", "/create_orders", manyOrders(4000, 5000)),
		get("/orders"))
	return rs
}

// bodyLimit is the agent's default request body limit.
const bodyLimit = 1 << 20

const agentLimit = "the agent's limit, not the module, answers"

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
