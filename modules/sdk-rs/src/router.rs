//! Routing by exact path and method, as the Go SDK's ServeMux routes.

use crate::http::{Handler, IntoResponse, Request, Response};

type RouteFn<S> = Box<dyn FnMut(&mut S, &Request<'_>) -> Response>;
type ErrorFn<S> = Box<dyn FnMut(&mut S, &Request<'_>, u16) -> Response>;

/// Routes requests by exact %-decoded path and method to handlers that
/// share a state `S` (a database handle, reusable buffers): no wildcards,
/// no prefixes, which is all a module's fixed set of endpoints needs.
///
/// Methods match as in net/http's ServeMux (and the Go SDK's): a GET route
/// also answers HEAD, unless a HEAD route is registered for the path (the
/// host sends the GET answer's headers, Content-Length included, and no
/// body). A request whose path is registered but not for its method gets
/// 405 with an Allow header listing the methods that would match, sorted
/// (HEAD wherever GET is); an unregistered path gets 404. Both go through
/// the error handler (`on_error`), which by default answers in plain text.
///
/// ```
/// use edge::{Request, Response, Router};
///
/// struct Counter { n: u64 }
///
/// let mut app = Router::new(Counter { n: 0 })
///     .get("/count", |s: &mut Counter, _: &Request| {
///         s.n += 1;
///         Response::text(200, s.n.to_string())
///     });
/// # use edge::Handler;
/// # let r = Request::new(b"GET", b"/count", b"", vec![], b"").unwrap();
/// # assert_eq!(app.handle(&r).body(), b"1");
/// ```
pub struct Router<S> {
    state: S,
    routes: Vec<Route<S>>,
    error: Option<ErrorFn<S>>,
}

struct Route<S> {
    path: String,
    methods: Vec<(String, RouteFn<S>)>, // "" matches any method
    allow: String,
}

impl<S> Router<S> {
    pub fn new(state: S) -> Router<S> {
        Router { state, routes: Vec::new(), error: None }
    }

    /// Registers `f` for `pattern`: "METHOD /path", or "/path" for any
    /// method. Panics on a malformed or duplicate pattern, a programming
    /// error found on the first request.
    pub fn route<F, R>(mut self, pattern: &str, mut f: F) -> Router<S>
    where
        F: FnMut(&mut S, &Request<'_>) -> R + 'static,
        R: IntoResponse,
    {
        let (method, path) = match pattern.split_once(' ') {
            Some((m, p)) => (m, p),
            None => ("", pattern),
        };
        assert!(path.starts_with('/'), "edge: invalid route pattern {:?}", pattern);
        let i = match self.routes.iter().position(|r| r.path == path) {
            Some(i) => i,
            None => {
                self.routes.push(Route { path: path.to_string(), methods: Vec::new(), allow: String::new() });
                self.routes.len() - 1
            }
        };
        let rt = &mut self.routes[i];
        assert!(!rt.methods.iter().any(|(m, _)| m == method), "edge: duplicate route pattern {:?}", pattern);
        rt.methods.push((method.to_string(), Box::new(move |s: &mut S, r: &Request<'_>| f(s, r).into_response())));
        let mut allow: Vec<&str> = rt.methods.iter().map(|(m, _)| m.as_str()).filter(|m| !m.is_empty()).collect();
        if allow.contains(&"GET") && !allow.contains(&"HEAD") {
            allow.push("HEAD");
        }
        allow.sort_unstable();
        rt.allow = allow.join(", ");
        self
    }

    /// Registers `f` for GET `path`.
    pub fn get<F, R>(self, path: &str, f: F) -> Router<S>
    where
        F: FnMut(&mut S, &Request<'_>) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&format!("GET {}", path), f)
    }

    /// Registers `f` for POST `path`.
    pub fn post<F, R>(self, path: &str, f: F) -> Router<S>
    where
        F: FnMut(&mut S, &Request<'_>) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&format!("POST {}", path), f)
    }

    /// Sets the handler of 404 and 405 answers; the Allow header is already
    /// set on a 405 when it runs.
    pub fn on_error<F>(mut self, f: F) -> Router<S>
    where
        F: FnMut(&mut S, &Request<'_>, u16) -> Response + 'static,
    {
        self.error = Some(Box::new(f));
        self
    }

    /// The shared state.
    pub fn state(&mut self) -> &mut S {
        &mut self.state
    }

    fn fail(&mut self, req: &Request<'_>, status: u16, allow: Option<String>) -> Response {
        let mut resp = match &mut self.error {
            Some(f) => f(&mut self.state, req, status),
            None if status == 405 => Response::text(405, "405 method not allowed\n"),
            None => Response::text(404, "404 page not found\n"),
        };
        if let Some(allow) = allow {
            if resp.header("Allow").is_none() {
                resp.set_header("Allow", allow);
            }
        }
        resp
    }
}

impl<S> Handler for Router<S> {
    fn handle(&mut self, req: &Request<'_>) -> Response {
        let path = req.path_bytes();
        let rt = match self.routes.iter_mut().find(|r| r.path.as_bytes() == path) {
            Some(rt) => rt,
            None => return self.fail(req, 404, None),
        };
        let method = req.method();
        let find = |want: &str| rt.methods.iter().position(|(m, _)| m == want);
        let i = find(method).or_else(|| if method == "HEAD" { find("GET") } else { None }).or_else(|| find(""));
        match i {
            Some(i) => (rt.methods[i].1)(&mut self.state, req),
            None => {
                let allow = rt.allow.clone();
                self.fail(req, 405, Some(allow))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, uri: &'a str) -> Request<'a> {
        Request::new(method.as_bytes(), uri.as_bytes(), b"", vec![], b"").unwrap()
    }

    #[test]
    fn routes() {
        let mut r = Router::new(0u32)
            .get("/a", |n: &mut u32, _: &Request| {
                *n += 1;
                Response::text(200, "get a")
            })
            .post("/a", |_: &mut u32, _: &Request| Response::text(201, "post a"))
            .route("/any", |_: &mut u32, r: &Request| Response::text(200, r.method().to_string()))
            .route("DELETE /a", |_: &mut u32, _: &Request| -> Result<Response, Response> { Err(Response::new(409)) })
            .route("HEAD /head", |_: &mut u32, _: &Request| Response::text(200, "head"))
            .get("/head", |_: &mut u32, _: &Request| Response::text(200, "get head"))
            .post("/post", |_: &mut u32, _: &Request| Response::text(200, "post"));
        let cases = [
            ("GET", "/a", 200, "get a", None),
            ("GET", "/%61", 200, "get a", None),
            ("POST", "/a", 201, "post a", None),
            ("DELETE", "/a", 409, "", None),
            ("PUT", "/a", 405, "405 method not allowed\n", Some("DELETE, GET, HEAD, POST")),
            ("HEAD", "/a", 200, "get a", None),
            ("HEAD", "/head", 200, "head", None),
            ("GET", "/head", 200, "get head", None),
            ("POST", "/head", 405, "405 method not allowed\n", Some("GET, HEAD")),
            ("HEAD", "/post", 405, "405 method not allowed\n", Some("POST")),
            ("PATCH", "/any", 200, "PATCH", None),
            ("HEAD", "/any", 200, "HEAD", None),
            ("GET", "/b", 404, "404 page not found\n", None),
            ("GET", "/a/", 404, "404 page not found\n", None),
        ];
        for (m, u, status, body, allow) in cases {
            let resp = r.handle(&req(m, u));
            assert_eq!((resp.status(), resp.body()), (status, body.as_bytes()), "{} {}", m, u);
            assert_eq!(resp.header("Allow"), allow.map(str::as_bytes), "{} {}", m, u);
        }
        assert_eq!(*r.state(), 3);
    }

    #[test]
    #[should_panic(expected = "duplicate route")]
    fn duplicate_panics() {
        let _ = Router::new(()).get("/a", |_: &mut (), _: &Request| Response::new(200)).get("/a", |_: &mut (), _: &Request| Response::new(200));
    }
}
