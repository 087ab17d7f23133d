//! The order service of the seed demo as an edge module in Rust: the same
//! endpoints, bodies, headers and errors as the Go module (modules/orders),
//! byte for byte, on the same host ABI. tests/rust holds the two to that.
//!
//! ```text
//! GET  /               the list of endpoints, as text
//! POST /echo           the request body
//! GET  /init           drop and recreate the orders table
//! POST /create_order   one order                 → {"status":true}
//! POST /create_orders  an array, one transaction → {"status":true}
//! GET  /orders         all orders by order_id, as a JSON array
//! GET  /orders?limit=N&after=ID  one page of them, by order_id
//! GET  /orders/count   {"count":N}
//! POST /update_order   update by order_id        → {"status":true}
//! GET  /delete_order?id=N                        → {"status":true}
//! OPTIONS any path     200, empty body
//! HEAD    a GET path   GET's status and headers (the host sends no body)
//! ```
//!
//! Every response carries the demo's CORS headers. Failures answer with a
//! JSON body {"error":"..."}: 400 for bad input (the message says what and
//! where), 404 for an unknown path, 405 with Allow for a wrong method (GET
//! paths list "GET, HEAD"), 413 when a request needs more than a limit of
//! the host allows (SQL calls per request; the message names the limit),
//! 503 when the database is unreachable or timed out, 507 when GET /orders
//! holds more than one SQL result of the host may (naming the limit and
//! the paging parameters), 500 for any other database error (the detail
//! goes to the log).
//!
//! Paging is the Go module's (modules/orders/doc.go, "Paging"): at most
//! limit orders (1 to 1000) with order_id > after, and when more follow a
//! `Link: </orders?limit=N&after=LAST>; rel="next"` header; a bad limit or
//! after is a 400 naming the parameter and quoting the value.
//!
//! POST /create_orders inserts by multi-row INSERTs of 256, 16 and 1
//! orders, as the Go module does (store.rs).

pub mod order;
mod store;

use edge::db::Db;
use edge::json::Writer;
use edge::{ErrorKind, Handler, Request, Response, Router};

pub use order::{decode_list, decode_one, Invalid, Order};

/// The body of GET /, as the demo sent it.
pub const ENDPOINTS: &str = "The valid endpoints are /init /create_order /create_orders /update_order /orders /delete_order";

/// The CORS headers the demo sent with every response.
const CORS: [(&str, &str); 3] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "api,Keep-Alive,User-Agent,Content-Type"),
];

/// The handlers' shared state.
pub struct Service {
    db: Db,
    inserts: store::Inserts,
}

/// The order service: CORS around a router.
pub struct Orders {
    router: Router<Service>,
}

/// Builds the service over the module's database binding.
pub fn service() -> Orders {
    let router = Router::new(Service { db: Db::new(), inserts: store::Inserts::new() })
        .get("/", root)
        .post("/echo", echo)
        .get("/init", init_table)
        .post("/create_order", create_order)
        .post("/create_orders", create_orders)
        .get("/orders", list_orders)
        .get("/orders/count", count_orders)
        .post("/update_order", update_order)
        .get("/delete_order", delete_order)
        .on_error(|_, _, status| error_response(status, if status == 405 { "method not allowed" } else { "not found" }));
    Orders { router }
}

impl Handler for Orders {
    /// Adds the CORS headers to every response and answers OPTIONS (a CORS
    /// preflight) on any path.
    fn handle(&mut self, req: &Request<'_>) -> Response {
        let mut resp = if req.method() == "OPTIONS" { Response::new(200) } else { self.router.handle(req) };
        for (name, value) in CORS {
            if resp.header(name).is_none() {
                resp.set_header(name, value);
            }
        }
        resp
    }
}

/// A JSON error body {"error": msg}.
fn error_response(status: u16, msg: &str) -> Response {
    let mut w = Writer::with_capacity(32 + msg.len());
    w.begin_object();
    w.key("error");
    w.string(msg);
    w.end_object();
    Response::json(status, w.take())
}

/// The demo's success body of mutating calls.
fn status_true() -> Response {
    Response::json(200, &br#"{"status":true}"#[..])
}

/// Answers a failed database operation: 503 if the database could not be
/// reached, 413 if the request needs more than a limit of the host allows
/// (the message names the limit), else 500. The detail of a 500 goes to
/// the log, not to the client.
fn db_error(op: &str, err: edge::Error) -> Response {
    if err.is_unavailable() {
        edge::log::warn(&format!("orders: {}: database unavailable: {}", op, err));
        return error_response(503, &format!("database unavailable: {}", op));
    }
    if err.kind() == ErrorKind::TooLarge {
        edge::log::warn(&format!("orders: {}: {}", op, err));
        return error_response(413, &format!("{}: {}", op, host_limit(&err)));
    }
    edge::log::error(&format!("orders: {}: {}", op, err));
    error_response(500, &format!("database error: {}", op))
}

/// The host's message about the limit `err` ran into.
fn host_limit(err: &edge::Error) -> String {
    match err.code() {
        Some(_) => err.message().to_string(),
        None => err.to_string(),
    }
}

fn invalid(e: Invalid) -> Response {
    error_response(400, &e.0)
}

fn root(_: &mut Service, _: &Request<'_>) -> Response {
    Response::text(200, ENDPOINTS)
}

fn echo(_: &mut Service, r: &Request<'_>) -> Response {
    let mut resp = Response::new(200).with_body(r.body());
    match r.header_bytes("Content-Type") {
        Some(ct) if !ct.is_empty() => resp.set_header("Content-Type", ct),
        _ => {}
    }
    resp
}

fn init_table(s: &mut Service, _: &Request<'_>) -> Response {
    match store::reset_table(&mut s.db) {
        Ok(()) => status_true(),
        Err(e) => db_error("init", e),
    }
}

fn create_order(s: &mut Service, r: &Request<'_>) -> Result<Response, Response> {
    let o = decode_one(r.body()).map_err(invalid)?;
    store::insert_orders(&mut s.db, &s.inserts, std::slice::from_ref(&o)).map_err(|e| db_error("create order", e))?;
    Ok(status_true())
}

fn create_orders(s: &mut Service, r: &Request<'_>) -> Result<Response, Response> {
    let list = decode_list(r.body()).map_err(invalid)?;
    store::insert_orders(&mut s.db, &s.inserts, &list).map_err(|e| db_error("create orders", e))?;
    Ok(status_true())
}

/// GET /orders: every order, or with limit or after one page of them
/// (keyset paging, `parse_page`), with a Link to the next page when there
/// is one.
fn list_orders(s: &mut Service, r: &Request<'_>) -> Response {
    let pp = match parse_page(&r.query()) {
        Ok(pp) => pp,
        Err(e) => return invalid(e),
    };
    let mut w = Writer::with_capacity(4096);
    let res = match pp {
        Some((limit, after)) => store::write_page(&mut s.db, &mut w, limit, after).map(|p| (limit, p)).map(Some),
        None => store::write_all_orders(&mut s.db, &mut w).map(|()| None),
    };
    match res {
        Ok(page) => {
            let mut resp = Response::json(200, w.take());
            if let Some((limit, p)) = page.filter(|(_, p)| p.more) {
                resp.set_header("Link", format!("</orders?limit={}&after={}>; rel=\"next\"", limit, p.last));
            }
            resp
        }
        // More orders than the host lets one answer hold: not the
        // client's fault (no 4xx), not a failure either (no 500).
        Err(e) if e.kind() == ErrorKind::TooLarge => {
            edge::log::warn(&format!("orders: list orders: {}", e));
            error_response(507, &format!("list orders: {}{}", host_limit(&e), paging_hint()))
        }
        Err(e) => db_error("list orders", e),
    }
}

/// GET /orders/count: {"count":N}, by one COUNT(*), for clients that need
/// the number and not the orders (modules/telemetry).
fn count_orders(s: &mut Service, _: &Request<'_>) -> Response {
    match store::count_orders(&mut s.db) {
        Ok(n) => {
            let mut w = Writer::with_capacity(32);
            w.begin_object();
            w.key("count");
            w.int(n);
            w.end_object();
            Response::json(200, w.take())
        }
        Err(e) => db_error("count orders", e),
    }
}

/// The largest limit of GET /orders?limit=N, as in the Go module
/// (modules/orders/paging.go): 1,000 orders of at most ~1.1 KB each stay
/// far under the host's 4 MiB per SQL result.
pub const MAX_PAGE: usize = 1000;

/// GET /orders' paging parameters: None when the query has neither limit
/// nor after (the demo's full listing), else limit (1..MAX_PAGE, default
/// MAX_PAGE) and after (a 32-bit order id, default below every id).
fn parse_page(q: &edge::url::Query<'_>) -> Result<Option<(usize, i64)>, Invalid> {
    if !q.has("limit") && !q.has("after") {
        return Ok(None);
    }
    let mut limit = MAX_PAGE;
    if let Some(raw) = q.get_bytes("limit") {
        limit = match parse_i32(raw) {
            Some(n) if n >= 1 && n as usize <= MAX_PAGE => n as usize,
            _ => {
                return Err(Invalid(format!(
                    "invalid request: limit must be an integer from 1 to {}, got {}",
                    MAX_PAGE,
                    edge::gostr::quote(raw)
                )))
            }
        };
    }
    let mut after = i32::MIN as i64 - 1;
    if let Some(raw) = q.get_bytes("after") {
        after = parse_i32(raw)
            .ok_or_else(|| Invalid(format!("invalid request: after must be a 32-bit integer, got {}", edge::gostr::quote(raw))))?
            as i64;
    }
    Ok(Some((limit, after)))
}

/// Ends the 507 message of a full listing, as the Go module's pagingHint.
fn paging_hint() -> String {
    format!("; page through them with GET /orders?limit=N&after=ID (N up to {}, ID the last order_id of the page before)", MAX_PAGE)
}

fn update_order(s: &mut Service, r: &Request<'_>) -> Result<Response, Response> {
    let o = decode_one(r.body()).map_err(invalid)?;
    store::update_order(&mut s.db, &o).map_err(|e| db_error("update order", e))?;
    Ok(status_true())
}

fn delete_order(s: &mut Service, r: &Request<'_>) -> Result<Response, Response> {
    let q = r.query();
    let raw = match q.get_bytes("id") {
        Some(v) => v,
        None => return Err(error_response(400, "invalid request: missing query parameter id")),
    };
    let id = parse_i32(raw).ok_or_else(|| {
        error_response(400, &format!("invalid request: id must be a 32-bit integer, got {}", edge::gostr::quote(raw)))
    })?;
    store::delete_order(&mut s.db, id).map_err(|e| db_error("delete order", e))?;
    Ok(status_true())
}

/// Go's strconv.ParseInt(s, 10, 32): an optional sign, decimal digits,
/// within the i32 range.
fn parse_i32(b: &[u8]) -> Option<i32> {
    let digits = match b.first() {
        Some(b'+') | Some(b'-') => &b[1..],
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse::<i32>().ok()
}

edge::export_handler!(service);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i32_like_go() {
        for (s, want) in [
            ("2", Some(2)),
            ("+2", Some(2)),
            ("-0", Some(0)),
            ("007", Some(7)),
            ("-2147483648", Some(i32::MIN)),
            ("2147483648", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            (" 1", None),
            ("1_0", None),
            ("0x10", None),
            ("+-1", None),
        ] {
            assert_eq!(parse_i32(s.as_bytes()), want, "{:?}", s);
        }
    }

    // GET /orders' paging parameters, as modules/orders' parsePage reads
    // them (tests/conformance holds the answers of both to the same table).
    #[test]
    fn paging_parameters() {
        let page = |q: &'static str| parse_page(&edge::url::Query::parse(q.as_bytes())).map_err(|e| e.0);
        assert_eq!(page(""), Ok(None));
        assert_eq!(page("x=1&LIMIT=2"), Ok(None));
        assert_eq!(page("limit=2"), Ok(Some((2, i32::MIN as i64 - 1))));
        assert_eq!(page("after=-3"), Ok(Some((MAX_PAGE, -3))));
        assert_eq!(page("limit=1000&after=2147483647"), Ok(Some((1000, i32::MAX as i64))));
        assert_eq!(page("limit=0&after=x"), Err(r#"invalid request: limit must be an integer from 1 to 1000, got "0""#.to_string()));
        assert_eq!(page("limit=1001"), Err(r#"invalid request: limit must be an integer from 1 to 1000, got "1001""#.to_string()));
        assert_eq!(page("limit=2&after=2.5"), Err(r#"invalid request: after must be a 32-bit integer, got "2.5""#.to_string()));
    }

    // The answers of modules/orders' dbError and listOrders for the same
    // failures (tests/e2e TestHostQuotas and TestOrdersListOverResultLimit
    // run the Go module into the limits themselves).
    #[test]
    fn database_errors() {
        use edge::abi::{ErrorCode, HostError};
        let host = |code, msg: &str| edge::Error::host("sql", HostError { code, message: msg.as_bytes().to_vec() });
        let quota = "over the host's limit of 1000 SQL calls per request";
        for (err, status, body) in [
            (host(ErrorCode::TooLarge, quota), 413, format!(r#"{{"error":"create orders: {}"}}"#, quota)),
            (host(ErrorCode::Unavailable, "dial tcp: refused"), 503, r#"{"error":"database unavailable: create orders"}"#.to_string()),
            (host(ErrorCode::Timeout, "deadline"), 503, r#"{"error":"database unavailable: create orders"}"#.to_string()),
            (host(ErrorCode::BadRequest, "no such table: orders"), 500, r#"{"error":"database error: create orders"}"#.to_string()),
            (edge::Error::from_code("sql", edge::abi::ERR_MALFORMED), 500, r#"{"error":"database error: create orders"}"#.to_string()),
        ] {
            let r = db_error("create orders", err.clone());
            assert_eq!((r.status(), r.body()), (status, body.as_bytes()), "{}", err);
        }
    }

    #[test]
    fn cors_and_errors() {
        let mut s = service();
        let req = |m: &'static str, u: &'static str| Request::new(m.as_bytes(), u.as_bytes(), b"", vec![], b"").unwrap();
        let r = s.handle(&req("OPTIONS", "/nowhere"));
        assert_eq!((r.status(), r.body(), r.header("Content-Type")), (200, &b""[..], None));
        assert_eq!(r.header("access-control-allow-origin"), Some(&b"*"[..]));
        let r = s.handle(&req("GET", "/create_order"));
        assert_eq!((r.status(), r.body()), (405, &br#"{"error":"method not allowed"}"#[..]));
        assert_eq!(r.header("Allow"), Some(&b"POST"[..]));
        let r = s.handle(&req("GET", "/order"));
        assert_eq!((r.status(), r.body()), (404, &br#"{"error":"not found"}"#[..]));
        let r = s.handle(&req("GET", "/delete_order?id=%ff"));
        assert_eq!(r.body(), &br#"{"error":"invalid request: id must be a 32-bit integer, got \"\\xff\""}"#[..]);
        let r = s.handle(&req("GET", "/"));
        assert_eq!((r.status(), r.body()), (200, ENDPOINTS.as_bytes()));
        // HEAD runs GET (the host drops the body); Allow lists it.
        let r = s.handle(&req("HEAD", "/"));
        assert_eq!((r.status(), r.body()), (200, ENDPOINTS.as_bytes()));
        let r = s.handle(&req("POST", "/orders"));
        assert_eq!((r.status(), r.header("Allow")), (405, Some(&b"GET, HEAD"[..])));
    }
}
