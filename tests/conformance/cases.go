package conformance

import (
	"fmt"
	"strconv"
	"strings"
)

// The demo's data (deploy/demo in this repository) and its answers.
const (
	// SeedOrders is the body of the demo's POST /create_orders.
	SeedOrders = `[
  {"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"},
  {"order_id":2,"product_id":15,"quantity":3,"amount":256.0,"shipping":30.0,"tax":16.0,"shipping_address":"1234 NW Bobcat"},
  {"order_id":3,"product_id":11,"quantity":5,"amount":536.0,"shipping":50.0,"tax":24.0,"shipping_address":"20 Havelock"},
  {"order_id":4,"product_id":8,"quantity":8,"amount":126.0,"shipping":20.0,"tax":12.0,"shipping_address":"224 Pandan Loop"},
  {"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}
]`
	// SeedUpdate is the body of the demo's POST /update_order.
	SeedUpdate = `{"order_id":3,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"123 Main St"}`
	// StatusTrue is the answer of every mutating call.
	StatusTrue = `{"status":true}`
	// Endpoints is the body of GET /.
	Endpoints = "The valid endpoints are /init /create_order /create_orders /update_order /orders /delete_order"
)

// The seeded orders as GET /orders lists them (floats as serde writes them).
var seedRows = []string{
	`{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}`,
	`{"order_id":2,"product_id":15,"quantity":3,"amount":256.0,"shipping":30.0,"tax":16.0,"shipping_address":"1234 NW Bobcat"}`,
	`{"order_id":3,"product_id":11,"quantity":5,"amount":536.0,"shipping":50.0,"tax":24.0,"shipping_address":"20 Havelock"}`,
	`{"order_id":4,"product_id":8,"quantity":8,"amount":126.0,"shipping":20.0,"tax":12.0,"shipping_address":"224 Pandan Loop"}`,
	`{"order_id":5,"product_id":24,"quantity":1,"amount":46.0,"shipping":10.0,"tax":2.0,"shipping_address":"No.10 Jalan Besar"}`,
}

// SeedList is GET /orders after the seed.
var SeedList = list(seedRows...)

func list(rows ...string) string { return "[" + strings.Join(rows, ",") + "]" }

// without returns the seed rows without order id (1-based).
func without(id int) []string {
	out := append([]string(nil), seedRows[:id-1]...)
	return append(out, seedRows[id:]...)
}

// withRow returns the seed rows with row (an order id > 5) appended.
func withRow(row string) string { return list(append(append([]string(nil), seedRows...), row)...) }

// order6 is a valid order; field replaces one "key":value of it.
const order6 = `{"order_id":6,"product_id":7,"quantity":3,"amount":9.5,"shipping":1.25,"tax":0.5,"shipping_address":"Rua 6"}`

// withField returns order6 with the text old replaced by new.
func withField(old, new string) string {
	if !strings.Contains(order6, old) {
		panic("conformance: " + old + " not in order6")
	}
	return strings.Replace(order6, old, new, 1)
}

// errBody is the service's error answer.
func errBody(msg string) string { return `{"error":` + jsonString(msg) + `}` }

func post(target, body string) Request { return Request{Method: "POST", Target: target, Body: body} }
func get(target string) Request        { return Request{Method: "GET", Target: target} }

// bad is a request the service must refuse with 400 and the message msg,
// storing nothing.
func bad(name string, req Request, msg string) Case {
	return Case{Name: name, Req: req, Status: 400, Error: true, Body: errBody(msg), Orders: "seed",
		Header: map[string]string{"Content-Type": "application/json"}}
}

// ok is a request the service must answer 200 with body, leaving the
// orders as after.
func ok(name string, req Request, body, after string) Case {
	return Case{Name: name, Req: req, Status: 200, Body: body, Orders: after}
}

// okValues is ok with the orders compared as JSON values.
func okValues(name string, req Request, body, after string) Case {
	c := ok(name, req, body, after)
	c.Semantic = true
	return c
}

// Cases returns the table for cfg.
func Cases(cfg Config) []Case {
	cfg = cfg.withDefaults()
	var cs []Case
	cs = append(cs, workflow()...)
	cs = append(cs, malformed()...)
	cs = append(cs, wrongTypes()...)
	cs = append(cs, values()...)
	cs = append(cs, deleteIDs()...)
	cs = append(cs, paging()...)
	cs = append(cs, methodsAndPaths()...)
	cs = append(cs, requestTargets()...)
	cs = append(cs, limits(cfg)...)
	return cs
}

// workflow is the seed article's curl workflow, one step per case, and
// the other endpoints' plain uses.
func workflow() []Case {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	return []Case{
		{Name: "GET / lists the endpoints", Req: get("/"), Status: 200, Body: Endpoints,
			Header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{Name: "GET /init on an empty database", Req: get("/init"), Status: 200, Body: StatusTrue, Fresh: true, Orders: "[]", Header: jsonCT},
		{Name: "POST /create_orders with the demo's orders", Req: post("/create_orders", SeedOrders), Status: 200,
			Body: StatusTrue, Fresh: true, Orders: "seed", Header: jsonCT},
		{Name: "GET /orders", Req: get("/orders"), Status: 200, Body: SeedList, Header: jsonCT},
		ok("GET /delete_order?id=2", get("/delete_order?id=2"), StatusTrue, list(without(2)...)),
		ok("POST /update_order with the demo's update", post("/update_order", SeedUpdate), StatusTrue,
			list(seedRows[0], seedRows[1], `{"order_id":3,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"123 Main St"}`, seedRows[3], seedRows[4])),
		ok("POST /create_order", post("/create_order", order6), StatusTrue, withRow(order6)),
		ok("POST /create_orders with an empty array", post("/create_orders", `[]`), StatusTrue, "seed"),
		ok("GET /init drops the orders", get("/init"), StatusTrue, "[]"),
		ok("update of a missing order succeeds as in the demo", post("/update_order", withField(`"order_id":6`, `"order_id":99`)), StatusTrue, "seed"),
		ok("delete of a missing order succeeds as in the demo", get("/delete_order?id=99"), StatusTrue, "seed"),
		ok("an order id given twice is stored twice, as in the demo", post("/create_order", seedRows[0]), StatusTrue,
			list(seedRows[0], seedRows[0], seedRows[1], seedRows[2], seedRows[3], seedRows[4])),
		{Name: "POST /echo", Req: Request{Method: "POST", Target: "/echo", Body: "hello \x00\xff world", Header: map[string]string{"Content-Type": "application/x-test"}},
			Status: 200, Body: "hello \x00\xff world", Header: map[string]string{"Content-Type": "application/x-test"}},
		ok("POST /echo with no body", post("/echo", ""), "", "seed"),
		ok("unknown query parameters of GET /orders are ignored", get("/orders?x=1&LIMIT=1&Limit"), SeedList, ""),
		{Name: "OPTIONS on a known path", Req: Request{Method: "OPTIONS", Target: "/orders"}, Status: 200, Body: "", Orders: "seed"},
		{Name: "OPTIONS on an unknown path", Req: Request{Method: "OPTIONS", Target: "/nowhere"}, Status: 200, Body: ""},
		{Name: "OPTIONS with a CORS preflight", Req: Request{Method: "OPTIONS", Target: "/create_order", Header: map[string]string{
			"Origin": "http://example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}},
			Status: 200, Body: ""},
		{Name: "HEAD / answers like GET without a body", Req: Request{Method: "HEAD", Target: "/"}, Status: 200, Body: "",
			Header: map[string]string{"Content-Type": "text/plain; charset=utf-8", "Content-Length": itoa(len(Endpoints))}},
		{Name: "HEAD /orders answers like GET without a body", Req: Request{Method: "HEAD", Target: "/orders"}, Status: 200, Body: "",
			Header: map[string]string{"Content-Type": "application/json", "Content-Length": itoa(len(SeedList))}, Orders: "seed"},
	}
}

// malformed: bodies that are not JSON, or not the JSON asked for.
func malformed() []Case {
	var cs []Case
	for _, tt := range []struct{ name, body, msg string }{
		{"empty body", ``, "invalid request: json syntax error at offset 0: unexpected end of input"},
		{"only whitespace", " \n\t ", "invalid request: json syntax error at offset 4: unexpected end of input"},
		{"not JSON at all", `order_id=6`, "invalid request: json syntax error at offset 0: invalid character 'o'"},
		{"truncated object", `{"order_id":6,`, "invalid request: json syntax error at offset 14: want object key"},
		{"truncated string", `{"order_id`, "invalid request: json syntax error at offset 10: unterminated string"},
		{"trailing comma", withField(`"Rua 6"}`, `"Rua 6",}`), "invalid request: json syntax error at offset 108: want object key"},
		{"single quotes", `{'order_id':6}`, "invalid request: json syntax error at offset 1: want object key"},
		{"unquoted key", `{order_id:6}`, "invalid request: json syntax error at offset 1: want object key"},
		{"comment", `// an order` + "\n" + order6, "invalid request: json syntax error at offset 0: invalid character '/'"},
		{"byte order mark", "\ufeff" + order6, "invalid request: json syntax error at offset 0: invalid character 'ï'"},
		{"a second value after the object", order6 + ` {}`, "invalid request: json syntax error at offset 109: data after the top-level value"},
		{"an array where an object is expected", `[` + order6 + `]`, "invalid request: json value of wrong type at offset 0: want object, got array"},
		{"null", `null`, "invalid request: json value of wrong type at offset 0: want object, got null"},
		{"a string", `"order"`, "invalid request: json value of wrong type at offset 0: want object, got string"},
		{"a number", `6`, "invalid request: json value of wrong type at offset 0: want object, got number"},
		{"NaN", withField(`9.5`, `NaN`), "invalid request: field \"amount\": json syntax error at offset 51: invalid character 'N'"},
		{"Infinity", withField(`9.5`, `Infinity`), "invalid request: field \"amount\": json syntax error at offset 51: invalid character 'I'"},
		{"leading zero", withField(`"quantity":3`, `"quantity":03`), "invalid request: json syntax error at offset 41: want ',' or '}' in object"},
		{"lone minus", withField(`"quantity":3`, `"quantity":-`), "invalid request: field \"quantity\": json syntax error at offset 41: invalid number"},
		{"hex number", withField(`"quantity":3`, `"quantity":0x3`), "invalid request: json syntax error at offset 41: want ',' or '}' in object"},
		{"raw control character in a string", withField(`"Rua 6"`, "\"Rua\t6\""), "invalid request: field \"shipping_address\": json syntax error at offset 104: control character in string"},
		{"bad escape in a string", withField(`"Rua 6"`, `"Rua \x"`), "invalid request: field \"shipping_address\": json syntax error at offset 106: invalid escape"},
		{"truncated unicode escape", withField(`"Rua 6"`, `"Rua \u12"`), "invalid request: field \"shipping_address\": json syntax error at offset 106: invalid \\u escape"},
		{"nesting deeper than 10,000", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "invalid request: json syntax error at offset 10004: nesting too deep"},
	} {
		cs = append(cs, bad("create_order: "+tt.name, post("/create_order", tt.body), tt.msg))
	}
	for _, tt := range []struct{ name, body, msg string }{
		{"an object where an array is expected", order6, "invalid request: json value of wrong type at offset 0: want array, got object"},
		{"truncated array", `[` + order6, "invalid request: json syntax error at offset 109: unterminated array"},
		{"trailing comma in the array", `[` + order6 + `,]`, "invalid request: order 1: json syntax error at offset 110: invalid character ']'"},
		{"one bad order among good ones", `[` + order6 + `,{"order_id":"x"}]`, "invalid request: order 1: field \"order_id\": json value of wrong type at offset 122: want number, got string"},
		{"an array of numbers", `[1,2]`, "invalid request: order 0: json value of wrong type at offset 1: want object, got number"},
		{"nested arrays", `[[` + order6 + `]]`, "invalid request: order 0: json value of wrong type at offset 1: want object, got array"},
	} {
		cs = append(cs, bad("create_orders: "+tt.name, post("/create_orders", tt.body), tt.msg))
	}
	cs = append(cs,
		bad("update_order: malformed JSON", post("/update_order", `{"order_id":3`), "invalid request: json syntax error at offset 13: unterminated object"),
		bad("update_order: only the id", post("/update_order", `{"order_id":3}`), "invalid request: missing field \"product_id\""),
	)
	return cs
}

// wrongTypes: every field given every kind of JSON value it is not.
func wrongTypes() []Case {
	fields := []struct{ name, value, kind string }{
		{"order_id", "6", "number"}, {"product_id", "7", "number"}, {"quantity", "3", "number"},
		{"amount", "9.5", "number"}, {"shipping", "1.25", "number"}, {"tax", "0.5", "number"},
		{"shipping_address", `"Rua 6"`, "string"},
	}
	values := []struct{ text, kind string }{
		{`"6"`, "string"}, {`true`, "boolean"}, {`null`, "null"}, {`[6]`, "array"}, {`{"v":6}`, "object"}, {`6`, "number"},
	}
	var cs []Case
	for _, f := range fields {
		for _, v := range values {
			if v.kind == f.kind {
				continue
			}
			key := `"` + f.name + `":`
			body := withField(key+f.value, key+v.text)
			offset := strings.Index(body, key) + len(key)
			msg := fmt.Sprintf("invalid request: field %q: json value of wrong type at offset %d: want %s, got %s", f.name, offset, f.kind, v.kind)
			cs = append(cs, bad(fmt.Sprintf("%s given a %s", f.name, v.kind), post("/create_order", body), msg))
		}
	}
	return cs
}

// values: numbers and strings at and past the edges of their columns.
func values() []Case {
	row := func(old, new string) string { return withField(old, new) }
	return []Case{
		ok("order_id at the top of SQL INT", post("/create_order", row(`"order_id":6`, `"order_id":2147483647`)), StatusTrue,
			withRow(row(`"order_id":6`, `"order_id":2147483647`))),
		ok("order_id at the bottom of SQL INT", post("/create_order", row(`"order_id":6`, `"order_id":-2147483648`)), StatusTrue,
			list(append([]string{row(`"order_id":6`, `"order_id":-2147483648`)}, seedRows...)...)),
		bad("order_id past SQL INT", post("/create_order", row(`"order_id":6`, `"order_id":2147483648`)),
			"invalid request: field \"order_id\": json value of wrong type at offset 12: integer out of 32-bit range: 2147483648"),
		bad("order_id below SQL INT", post("/create_order", row(`"order_id":6`, `"order_id":-2147483649`)),
			"invalid request: field \"order_id\": json value of wrong type at offset 12: integer out of 32-bit range: -2147483649"),
		bad("order_id past int64", post("/create_order", row(`"order_id":6`, `"order_id":99999999999999999999`)),
			"invalid request: field \"order_id\": json value of wrong type at offset 12: integer out of range: 99999999999999999999"),
		bad("quantity with a fraction", post("/create_order", row(`"quantity":3`, `"quantity":2.5`)),
			"invalid request: field \"quantity\": json value of wrong type at offset 40: want integer, got 2.5"),
		bad("quantity written 3.0", post("/create_order", row(`"quantity":3`, `"quantity":3.0`)),
			"invalid request: field \"quantity\": json value of wrong type at offset 40: want integer, got 3.0"),
		bad("quantity with an exponent", post("/create_order", row(`"quantity":3`, `"quantity":3e0`)),
			"invalid request: field \"quantity\": json value of wrong type at offset 40: want integer, got 3e0"),
		bad("amount past float64", post("/create_order", row(`9.5`, `1e400`)),
			"invalid request: field \"amount\": json value of wrong type at offset 51: number out of range: 1e400"),
		okValues("floats at the edges of their notations", post("/create_order", row(`"amount":9.5,"shipping":1.25,"tax":0.5`, `"amount":1e21,"shipping":-0.0,"tax":1e-7`)), StatusTrue,
			withRow(row(`"amount":9.5,"shipping":1.25,"tax":0.5`, `"amount":1e21,"shipping":-0.0,"tax":1e-7`))),
		ok("an integer amount is stored as a float", post("/create_order", row(`9.5`, `9`)), StatusTrue, withRow(row(`9.5`, `9.0`))),
		okValues("the largest float", post("/create_order", row(`9.5`, `1.7976931348623157e308`)), StatusTrue, withRow(row(`9.5`, `1.7976931348623157e308`))),
		ok("an address of 256 characters of two bytes", post("/create_order", row(`"Rua 6"`, `"`+strings.Repeat("é", 256)+`"`)), StatusTrue,
			withRow(row(`"Rua 6"`, `"`+strings.Repeat("é", 256)+`"`))),
		bad("an address of 257 characters", post("/create_order", row(`"Rua 6"`, `"`+strings.Repeat("a", 257)+`"`)),
			"invalid request: shipping_address has 257 characters, more than 256"),
		okValues("escapes in an address", post("/create_order", row(`"Rua 6"`, `"\u00e9\"\\\/\b\f\n\r\t<&>\ud83d\ude00"`)), StatusTrue,
			withRow(row(`"Rua 6"`, `"é\"\\/\b\f\n\r\t\u003c\u0026\u003e😀"`))),
		okValues("invalid UTF-8 and a lone surrogate become U+FFFD", post("/create_order", row(`"Rua 6"`, "\"a\xffb\\ud800c\"")), StatusTrue,
			withRow(row(`"Rua 6"`, "\"a\ufffdb\ufffdc\""))),
		ok("an empty address", post("/create_order", row(`"Rua 6"`, `""`)), StatusTrue, withRow(row(`"Rua 6"`, `""`))),
		ok("unknown fields are ignored, as serde does", post("/create_order", `{"note":{"deep":[1,{"x":null}]},"id":0,`+order6[1:]), StatusTrue, withRow(order6)),
		ok("fields in another order", post("/create_order", `{"shipping_address":"Rua 6","tax":0.5,"shipping":1.25,"amount":9.5,"quantity":3,"product_id":7,"order_id":6}`),
			StatusTrue, withRow(order6)),
		ok("whitespace everywhere", post("/create_order", " \n{ \"order_id\" : 6 ,\t\"product_id\":7,\"quantity\":3,\"amount\":9.5,\"shipping\":1.25,\"tax\":0.5,\"shipping_address\":\"Rua 6\"\r\n} \n"),
			StatusTrue, withRow(order6)),
		bad("a missing field", post("/create_order", row(`,"tax":0.5`, ``)), "invalid request: missing field \"tax\""),
		bad("a field given twice", post("/create_order", row(`"tax":0.5`, `"tax":0.5,"tax":0.75`)), "invalid request: field \"tax\" given twice"),
		bad("an escaped key is the same key", post("/create_order", row(`"tax":0.5`, `"tax":0.5,"t\u0061x":0.75`)), "invalid request: field \"tax\" given twice"),
		bad("a key differing in case is unknown", post("/create_order", row(`"tax":0.5`, `"TAX":0.5`)), "invalid request: missing field \"tax\""),
	}
}

// deleteIDs: the id query parameter of /delete_order in every shape.
func deleteIDs() []Case {
	del := func(q string) Request { return get("/delete_order" + q) }
	return []Case{
		bad("delete without id", del(""), "invalid request: missing query parameter id"),
		bad("delete with an empty id", del("?id="), `invalid request: id must be a 32-bit integer, got ""`),
		bad("delete with a word", del("?id=abc"), `invalid request: id must be a 32-bit integer, got "abc"`),
		bad("delete with a fraction", del("?id=1.5"), `invalid request: id must be a 32-bit integer, got "1.5"`),
		bad("delete with an id past SQL INT", del("?id=2147483648"), `invalid request: id must be a 32-bit integer, got "2147483648"`),
		bad("delete with spaces", del("?id=%201"), `invalid request: id must be a 32-bit integer, got " 1"`),
		bad("delete with a bad escape", del("?id=%zz"), "invalid request: missing query parameter id"),
		ok("delete with an escaped id", del("?id=%32"), StatusTrue, list(without(2)...)),
		bad("delete with a plus sign, which a query decodes to a space", del("?id=+2"), `invalid request: id must be a 32-bit integer, got " 2"`),
		ok("delete with the id given twice: the first counts", del("?id=2&id=3"), StatusTrue, list(without(2)...)),
		ok("delete with other parameters", del("?x=1&id=2"), StatusTrue, list(without(2)...)),
		ok("delete with a negative id", del("?id=-1"), StatusTrue, "seed"),
	}
}

// nextLink is the Link header of a full page of GET /orders.
func nextLink(limit, after int) string {
	return fmt.Sprintf(`</orders?limit=%d&after=%d>; rel="next"`, limit, after)
}

// paging: GET /orders?limit=N&after=ID in every shape, and GET
// /orders/count. A page has a Link to the next one only when more orders
// follow (so no link on the last page, even a full one).
func paging() []Case {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	page := func(target string, link string, rows ...string) Case {
		return Case{Name: "GET " + target, Req: get(target), Status: 200, Body: list(rows...), Orders: "seed",
			Header: map[string]string{"Content-Type": "application/json", "Link": link}}
	}
	s := seedRows
	badLimit := func(q, value string) Case {
		return bad("GET /orders"+q, get("/orders"+q), "invalid request: limit must be an integer from 1 to 1000, got "+strconv.Quote(value))
	}
	badAfter := func(q, value string) Case {
		return bad("GET /orders"+q, get("/orders"+q), "invalid request: after must be a 32-bit integer, got "+strconv.Quote(value))
	}
	return []Case{
		page("/orders?limit=2", nextLink(2, 2), s[0], s[1]),
		page("/orders?limit=2&after=2", nextLink(2, 4), s[2], s[3]),
		page("/orders?limit=2&after=4", "", s[4]),
		page("/orders?after=4&limit=2", "", s[4]),
		page("/orders?limit=5", "", s...),
		page("/orders?limit=4", nextLink(4, 4), s[:4]...),
		page("/orders?limit=1000", "", s...),
		page("/orders?limit=1", nextLink(1, 1), s[0]),
		page("/orders?after=3", "", s[3], s[4]),
		page("/orders?after=0", "", s...),
		page("/orders?after=-2147483648", "", s...),
		page("/orders?after=2147483647", ""),
		page("/orders?limit=3&after=5", ""),
		page("/orders?limit=2&after=1&after=3", nextLink(2, 3), s[1], s[2]),
		page("/orders?limit=%32&after=%33", "", s[3], s[4]),
		page("/orders?limit=%2B2", nextLink(2, 2), s[0], s[1]),
		badLimit("?limit=+2", " 2"), // '+' in a query is a space
		page("/orders?limit=002&after=-0", nextLink(2, 2), s[0], s[1]),
		page("/orders?limit=2&after=%zz", nextLink(2, 2), s[0], s[1]), // a bad escape drops the pair, as for delete
		{Name: "HEAD /orders?limit=2", Req: Request{Method: "HEAD", Target: "/orders?limit=2"}, Status: 200, Body: "", Orders: "seed",
			Header: map[string]string{"Content-Type": "application/json", "Content-Length": itoa(len(list(s[0], s[1]))), "Link": nextLink(2, 2)}},
		badLimit("?limit=0", "0"),
		badLimit("?limit=1001", "1001"),
		badLimit("?limit=-1", "-1"),
		badLimit("?limit=", ""),
		badLimit("?limit=abc", "abc"),
		badLimit("?limit=1.5", "1.5"),
		badLimit("?limit=2147483648", "2147483648"),
		badLimit("?limit=%201", " 1"),
		badLimit("?limit=0&after=x", "0"),
		badLimit("?limit=%ff", "\xff"),
		badAfter("?after=x", "x"),
		badAfter("?after=", ""),
		badAfter("?limit=2&after=2.5", "2.5"),
		badAfter("?after=2147483648", "2147483648"),
		badAfter("?after=-2147483649", "-2147483649"),
		{Name: "GET /orders/count", Req: get("/orders/count"), Status: 200, Body: `{"count":5}`, Orders: "seed", Header: jsonCT},
		{Name: "GET /orders/count on an empty table", Req: get("/orders/count"), Status: 200, Body: `{"count":0}`, Fresh: true, Header: jsonCT},
		{Name: "GET /orders/count with a query", Req: get("/orders/count?limit=1"), Status: 200, Body: `{"count":5}`, Header: jsonCT},
	}
}

// methodsAndPaths: wrong methods and unknown paths.
func methodsAndPaths() []Case {
	notAllowed := func(method, target, allow string) Case {
		return Case{Name: method + " " + target, Req: Request{Method: method, Target: target}, Status: 405, Error: true,
			Body: errBody("method not allowed"), Orders: "seed", Header: map[string]string{"Allow": allow}}
	}
	notFound := func(name, target string) Case {
		return Case{Name: "unknown path " + name, Req: get(target), Status: 404, Error: true, Body: errBody("not found"), Orders: "seed"}
	}
	cs := []Case{
		notAllowed("GET", "/create_order", "POST"),
		notAllowed("GET", "/create_orders", "POST"),
		notAllowed("GET", "/update_order", "POST"),
		notAllowed("GET", "/echo", "POST"),
		notAllowed("POST", "/orders", "GET, HEAD"),
		notAllowed("POST", "/orders?limit=2", "GET, HEAD"),
		notAllowed("POST", "/orders/count", "GET, HEAD"),
		notAllowed("POST", "/init", "GET, HEAD"),
		notAllowed("POST", "/delete_order?id=1", "GET, HEAD"),
		notAllowed("POST", "/", "GET, HEAD"),
		notAllowed("PUT", "/create_order", "POST"),
		notAllowed("DELETE", "/delete_order?id=1", "GET, HEAD"),
		notAllowed("PATCH", "/update_order", "POST"),
		{Name: "HEAD /create_order", Req: Request{Method: "HEAD", Target: "/create_order"}, Status: 405, Body: "",
			Header: map[string]string{"Allow": "POST"}, Orders: "seed"},
		notFound("/order", "/order"),
		notFound("/orders/", "/orders/"),
		notFound("/ORDERS", "/ORDERS"),
		notFound("/init/x", "/init/x"),
		notFound("/orders.json", "/orders.json"),
		notFound("with a dot segment", "/x/../orders"),
		notFound("with an escaped slash", "/create%2Forder"),
		{Name: "an escaped path is the path", Req: get("/%6Frders"), Status: 200, Body: SeedList},
	}
	return cs
}

// requestTargets: every form of request target (RFC 9112, section 3.2)
// reaches the service as the same path and query in every build: an
// absolute-form target is its path and query, "/" when it has no path (as
// for a CONNECT's authority-form); "OPTIONS *" is answered by the HTTP
// server in front of the service; a target no build can parse is the
// SDK's 400 before the service runs.
func requestTargets() []Case {
	text := map[string]string{"Content-Type": "text/plain; charset=utf-8"}
	return []Case{
		{Name: "absolute-form target", Req: get("http://example.com/orders"), Status: 200, Body: SeedList},
		{Name: "absolute-form target with an escaped path and a query", Req: get("http://example.com/%6Frders?x=1"), Status: 200, Body: SeedList},
		{Name: "absolute-form target without a path", Req: get("http://example.com"), Status: 200, Body: Endpoints, Header: text},
		{Name: "absolute-form target without a path, with a query", Req: get("http://example.com?x=1"), Status: 200, Body: Endpoints, Header: text},
		{Name: "absolute-form delete without a path", Req: get("http://example.com?id=2"), Status: 200, Body: Endpoints, Orders: "seed"},
		{Name: "asterisk-form OPTIONS", Req: Request{Method: "OPTIONS", Target: "*"}, Status: 200, Body: "", ServerAnswer: true,
			Header: map[string]string{"Content-Length": "0"}},
		{Name: "asterisk-form GET", Req: get("*"), Status: 404, Error: true, Body: errBody("not found")},
		{Name: "authority-form CONNECT", Req: Request{Method: "CONNECT", Target: "example.com:443"}, Status: 405, Error: true,
			Body: errBody("method not allowed"), Header: map[string]string{"Allow": "GET, HEAD"}},
		{Name: "an opaque absolute-form target", Req: get("http:orders"), Status: 400, Body: "malformed request URI\n",
			ServerAnswer: true, Header: text},
	}
}

// limits: the body limit, at and past it, with and without a length.
func limits(cfg Config) []Case {
	limit := int(cfg.BodyLimit)
	// A valid array of one order, padded with spaces to exactly n bytes.
	padded := func(n int) string {
		body := `[` + order6 + `]`
		return body + strings.Repeat(" ", n-len(body))
	}
	// The host's answers end with a newline.
	tooLarge := func(name string, req Request) Case {
		return Case{Name: name, Req: req, Status: 413, Error: true, Orders: "seed",
			Body: errBody(fmt.Sprintf("request body too large: %d bytes, over the limit of %d bytes", len(req.Body), limit)) + "\n"}
	}
	chunked := tooLarge("a chunked body over the limit", Request{Method: "POST", Target: "/create_orders", Body: padded(limit + 1), Chunked: true})
	chunked.Body = errBody(fmt.Sprintf("request body too large: over the limit of %d bytes", limit)) + "\n"
	return []Case{
		ok("a body of exactly the limit", post("/create_orders", padded(limit)), StatusTrue, withRow(order6)),
		ok("a chunked body of exactly the limit", Request{Method: "POST", Target: "/create_orders", Body: padded(limit), Chunked: true}, StatusTrue, withRow(order6)),
		tooLarge("a body one byte over the limit", post("/create_orders", padded(limit+1))),
		chunked,
		ok("999 orders in one request", post("/create_orders", manyOrders(1000, 999)), StatusTrue, ""),
		ok("as many orders as fit in the body limit", post("/create_orders", mostOrders(limit)), StatusTrue, ""),
		ok("an unknown field holding a string of nearly the limit", post("/create_order",
			`{"note":"`+strings.Repeat("n", limit-len(order6)-16)+`",`+order6[1:]), StatusTrue, withRow(order6)),
		ok("an unknown field holding 20,000 members", post("/create_order",
			`{"note":{`+strings.Repeat(`"k":1,`, 20000)+`"k":1},`+order6[1:]), StatusTrue, withRow(order6)),
		{Name: "a header over 64 KiB", Req: Request{Method: "GET", Target: "/orders", Header: map[string]string{"X-Big": strings.Repeat("h", 100<<10)}},
			Status: 431, Error: true, ServerAnswer: true, Body: "431 Request Header Fields Too Large"},
		ok("Expect: 100-continue", Request{Method: "POST", Target: "/create_order", Body: order6, Header: map[string]string{"Expect": "100-continue"}},
			StatusTrue, withRow(order6)),
	}
}

// mostOrders is the longest array of orders that fits in limit bytes.
func mostOrders(limit int) string {
	n := limit / len(withField(`"order_id":6`, `"order_id":10000,`))
	for {
		if body := manyOrders(10000, n); len(body) <= limit {
			return body
		}
		n -= 16
	}
}

// manyOrders is an array of n orders with ids from first.
func manyOrders(first, n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = withField(`"order_id":6`, `"order_id":`+itoa(first+i))
	}
	return list(rows...)
}
