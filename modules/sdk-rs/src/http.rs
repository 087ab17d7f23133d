//! HTTP requests and responses as a handler sees them.
//!
//! The host runs the HTTP server: it reads the request (body included,
//! within the agent's limit), hands it to the guest as one frame, and
//! writes the guest's response back, setting Content-Length and dropping
//! hop-by-hop headers. So a Request is complete and borrowed from the
//! guest's request buffer, and a Response is a value built whole.

use std::borrow::Cow;

use crate::url::{self, Query, Target};

/// An HTTP request. It borrows the request frame, which lives until the
/// handler returns.
#[derive(Debug)]
pub struct Request<'a> {
    method: &'a [u8],
    uri: &'a [u8],
    remote_addr: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
    target: Target<'a>,
}

impl<'a> Request<'a> {
    /// Builds a request from its parts; fails if the target is not a valid
    /// request URI (the server answers that with 400).
    pub fn new(
        method: &'a [u8],
        uri: &'a [u8],
        remote_addr: &'a [u8],
        headers: Vec<(&'a [u8], &'a [u8])>,
        body: &'a [u8],
    ) -> Result<Request<'a>, url::BadUri> {
        let target = url::parse_target(uri)?;
        Ok(Request { method, uri, remote_addr, headers, body, target })
    }

    /// The method: "GET", "POST", ...
    pub fn method(&self) -> &str {
        std::str::from_utf8(self.method).unwrap_or("")
    }

    /// The request target as received: escaped path and query.
    pub fn uri(&self) -> &[u8] {
        self.uri
    }

    /// The %-decoded path. A path that is not UTF-8 reads as "\u{FFFD}"
    /// (no route can match it); `path_bytes` has its bytes.
    pub fn path(&self) -> &str {
        std::str::from_utf8(&self.target.path).unwrap_or("\u{FFFD}")
    }

    /// The %-decoded path as bytes.
    pub fn path_bytes(&self) -> &[u8] {
        &self.target.path
    }

    /// The query as sent, without '?', still escaped.
    pub fn raw_query(&self) -> &[u8] {
        self.target.raw_query
    }

    /// The parsed query.
    pub fn query(&self) -> Query<'_> {
        Query::parse(self.target.raw_query)
    }

    /// The first value of header `name` (any case), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of header `name` (any case), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, v)| v)
    }

    /// Every header field in the order the host sent them (Host first,
    /// then by name).
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers.iter().copied()
    }

    /// The Host header.
    pub fn host(&self) -> Option<&str> {
        self.header("Host")
    }

    /// The client's address as the host saw it ("ip:port").
    pub fn remote_addr(&self) -> &str {
        std::str::from_utf8(self.remote_addr).unwrap_or("")
    }

    /// The body, already read whole by the host.
    pub fn body(&self) -> &[u8] {
        self.body
    }
}

/// An HTTP response: status, header fields and body.
///
/// Header names are stored in canonical form ("content-type" →
/// "Content-Type"), as Go's net/http and the Go SDK store them, and the
/// frame lists them sorted by name, so a Rust and a Go module send the
/// same fields in the same order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Default for Response {
    fn default() -> Response {
        Response::new(200)
    }
}

impl Response {
    /// An empty response with `status`. The host refuses a status outside
    /// 100–599 (the client gets 502).
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// 200 with `body` and Content-Type: application/json.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status).with_header("Content-Type", "application/json").with_body(body)
    }

    /// `status` with `body` and Content-Type: text/plain; charset=utf-8.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status).with_header("Content-Type", "text/plain; charset=utf-8").with_body(body)
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// Sets header `name` to `value`, replacing its values.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        self.set_header(name, value);
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Sets header `name` to `value`, replacing its values.
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let name = canonical_header_key(name);
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name.into_owned(), value.as_ref().to_vec()));
    }

    /// Adds a value to header `name`.
    pub fn add_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.push((canonical_header_key(name).into_owned(), value.as_ref().to_vec()));
    }

    /// Removes header `name`.
    pub fn remove_header(&mut self, name: &str) {
        let name = canonical_header_key(name);
        self.headers.retain(|(n, _)| *n != name);
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let name = canonical_header_key(name);
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| &v[..])
    }

    /// The header fields sorted by name, values of one name in the order
    /// they were added.
    pub fn headers(&self) -> Vec<(&str, &[u8])> {
        let mut hs: Vec<(&str, &[u8])> = self.headers.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
        hs.sort_by(|a, b| a.0.cmp(b.0)); // stable: keeps each name's values in order
        hs
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn body_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    /// Appends to the body.
    pub fn write(&mut self, b: &[u8]) {
        self.body.extend_from_slice(b);
    }
}

/// What a handler may return: a Response, or a Result of two things that
/// are, so a handler can use `?` with an error type that knows its
/// response.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// Serves requests: what a module exports with [`crate::export_handler!`].
/// One instance serves one request at a time, so a handler may keep
/// buffers and other state in `self`.
pub trait Handler {
    fn handle(&mut self, req: &Request<'_>) -> Response;
}

impl<F> Handler for F
where
    F: FnMut(&Request<'_>) -> Response,
{
    fn handle(&mut self, req: &Request<'_>) -> Response {
        self(req)
    }
}

/// Returns the canonical form of a header name: the first letter and each
/// letter after a hyphen upper case, the rest lower case. A name with a
/// byte that is not an HTTP token character is returned unchanged, as Go's
/// net/textproto does.
pub fn canonical_header_key(s: &str) -> Cow<'_, str> {
    let mut upper = true;
    let mut canonical = true;
    for &c in s.as_bytes() {
        if !is_token_char(c) {
            return Cow::Borrowed(s);
        }
        if (upper && c.is_ascii_lowercase()) || (!upper && c.is_ascii_uppercase()) {
            canonical = false;
        }
        upper = c == b'-';
    }
    if canonical {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut upper = true;
    for c in s.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        upper = c == '-';
    }
    Cow::Owned(out)
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys() {
        for (in_, want) in [
            ("content-type", "Content-Type"),
            ("CONTENT-TYPE", "Content-Type"),
            ("Content-Type", "Content-Type"),
            ("x-b3-traceid", "X-B3-Traceid"),
            ("access-control-allow-origin", "Access-Control-Allow-Origin"),
            ("bad name", "bad name"),
            ("", ""),
        ] {
            assert_eq!(canonical_header_key(in_), want);
        }
    }

    #[test]
    fn response_headers() {
        let mut r = Response::new(200).with_header("x-b", "1").with_header("X-A", "2");
        r.add_header("x-b", "3");
        r.set_header("X-A", "4");
        assert_eq!(r.headers(), vec![("X-A", &b"4"[..]), ("X-B", b"1"), ("X-B", b"3")]);
        assert_eq!(r.header("x-b"), Some(&b"1"[..]));
        r.remove_header("X-B");
        assert_eq!(r.header("x-b"), None);
    }

    #[test]
    fn request_accessors() {
        let r = Request::new(b"GET", b"/a%20b?id=7", b"1.2.3.4:5", vec![(b"Host", b"h"), (b"Content-Type", b"x/y")], b"")
            .unwrap();
        assert_eq!((r.method(), r.path(), r.raw_query()), ("GET", "/a b", &b"id=7"[..]));
        assert_eq!(r.query().get("id"), Some("7"));
        assert_eq!(r.header("content-type"), Some("x/y"));
        assert_eq!(r.host(), Some("h"));
        assert!(Request::new(b"GET", b"/%zz", b"", vec![], b"").is_err());
    }
}
