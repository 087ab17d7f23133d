// Package orders is the order service of the seed demo
// (microservice-rust-mysql), as an edge module: one source that builds as a
// Wasm guest (wasm/) and as a native net/http server (native/).
//
// # Compatibility with the demo
//
// Same endpoints, JSON field names and success bodies, so the demo's
// clients and scripts work unchanged:
//
//	GET  /               the list of endpoints, as text
//	POST /echo           the request body
//	GET  /init           drop and recreate the orders table
//	POST /create_order   one order                 → {"status":true}
//	POST /create_orders  an array, one transaction → {"status":true}
//	GET  /orders         all orders by order_id, as a JSON array
//	GET  /orders?limit=N&after=ID  one page of them (see Paging)
//	GET  /orders/count   {"count":N}
//	POST /update_order   update by order_id        → {"status":true}
//	GET  /delete_order?id=N                        → {"status":true}
//	OPTIONS any path     200, empty body
//	HEAD    a GET path   GET's status and headers, no body (as net/http's
//	                     mux answers; HEAD /init and HEAD /delete_order
//	                     therefore act like their GET, as the demo made
//	                     them GET endpoints)
//
// Every response carries the demo's CORS headers. Floats are written the
// way serde_json writes them (56.0, not 56).
//
// # Where it differs: errors
//
// The demo panicked or dropped the connection on bad input or a database
// failure. Here every failure is a response with a JSON body
// {"error":"..."}:
//
//	400  malformed JSON, a field of the wrong type (an integer field given
//	     2.5 or "abc", a float given "x", null anywhere), a missing field,
//	     a field given twice, a shipping_address over 256 characters, an
//	     integer outside the 32-bit range of SQL INT, a missing or
//	     non-integer id for /delete_order, a limit of GET /orders that is
//	     not an integer from 1 to 1000, an after that is not a 32-bit
//	     integer (the message names the parameter and quotes the value)
//	404  unknown path
//	405  known path, wrong method (with an Allow header: GET paths list
//	     "GET, HEAD")
//	413  the request needs more than a limit of the host allows (SQL calls
//	     per request); the message names the limit
//	503  database unreachable, busy, silent or timed out (sdk.IsUnavailable)
//	507  GET /orders: more orders than one SQL result of the host may hold;
//	     the message names the limit and the paging parameters
//	500  any other database error (the detail goes to the log)
//
// # Paging
//
// One SQL result of the host holds at most 4 MiB, so the full GET /orders
// of the demo fails (507) past that (25,000 orders with 256-character
// addresses are past it; fault F18). Keyset paging lists any number:
//
//	GET /orders?limit=N&after=ID
//
// answers at most N orders (1 to MaxPage, 1,000; MaxPage when only after
// is given) whose order_id is greater than ID (default: below every id),
// by order_id. When more orders follow, the answer carries
//
//	Link: </orders?limit=N&after=LAST>; rel="next"
//
// with LAST the order_id of the page's last order; the last page has no
// Link (the query asks for N+1 rows to know). Without limit and after the
// answer is the demo's full listing, unchanged. Order ids are meant to be
// unique; orders that share an id (the demo allows it) and straddle a page
// boundary are listed only up to it, as the next page starts after the id.
// GET /orders/count answers the number of orders by one COUNT(*), for
// clients that need only that (modules/telemetry).
//
// POST /create_orders inserts by multi-row INSERTs of 256, 16 and 1 orders,
// so the largest array that fits in the body limit stays far under the
// host's SQL calls per request.
//
// Unknown fields in an order are ignored, as serde (and so the demo) does,
// so clients that send extra fields keep working. Updating or deleting an
// order that does not exist succeeds, as in the demo.
//
// Request bodies are decoded with sdk/jsond rather than encoding/json: see
// BenchmarkDecodeOrders for the measurement behind that choice.
package orders
