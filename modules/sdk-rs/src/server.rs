//! The guest's side of `edge_alloc` and `edge_handle`: Request frames in,
//! Response frames out.
//!
//! ```text
//! host                                  guest
//! instantiate (no _initialize needed)
//! edge_abi_version() ─────────────────▶ abi::VERSION
//! edge_alloc(n) ──────────────────────▶ pointer to the request buffer,
//!                                       grown to n bytes if needed (0: refused)
//! write the Request frame there
//! edge_handle(ptr, n) ────────────────▶ first call: build the handler;
//!                                       decode, route, call the handler
//!   ◀── sql / http_fetch / log ... ──── host imports during the call
//!   ◀── ptr<<32 | len ───────────────── Response frame in the response buffer
//! read the Response frame
//! ```
//!
//! Buffer ownership: the guest owns both buffers and reuses them, so a
//! warm instance does not grow per request. The request buffer is valid
//! from `edge_alloc` until `edge_handle` returns; the response frame until
//! the next `edge_alloc` or `edge_handle`.

use crate::abi;
use crate::http::{Handler, Request, Response};

/// The request buffer's starting size; it grows only for a larger request.
pub const INITIAL_BUFFER: usize = 64 << 10;
/// The largest request `edge_alloc` accepts (the host bounds bodies far
/// below this).
pub const MAX_REQUEST: usize = 256 << 20;

/// Turns Request frames into Response frames for one handler. The exports
/// use one global FrameServer; tests make their own.
pub struct FrameServer {
    handler: Option<Box<dyn Handler>>,
    req_buf: Vec<u8>,
    resp_buf: Vec<u8>,
}

impl Default for FrameServer {
    fn default() -> FrameServer {
        FrameServer::new()
    }
}

impl FrameServer {
    pub const fn new() -> FrameServer {
        FrameServer { handler: None, req_buf: Vec::new(), resp_buf: Vec::new() }
    }

    /// Returns a buffer of at least `size` bytes for the next request, or
    /// None for a negative or oversized request.
    pub fn alloc(&mut self, size: i32) -> Option<&mut [u8]> {
        if size < 0 || size as usize > MAX_REQUEST {
            return None;
        }
        let size = size as usize;
        if self.req_buf.len() < size || self.req_buf.is_empty() {
            // Zeroed, so the guest never reads bytes nobody wrote.
            self.req_buf = vec![0; size.max(INITIAL_BUFFER)];
        }
        Some(&mut self.req_buf[..])
    }

    /// The handler, built by `init` on the first request.
    fn handler_or_init<H: Handler + 'static>(&mut self, init: impl FnOnce() -> H) -> &mut dyn Handler {
        if self.handler.is_none() {
            self.handler = Some(Box::new(init()));
        }
        match &mut self.handler {
            Some(h) => h.as_mut(),
            None => unreachable!(),
        }
    }

    /// Serves the request frame of `len` bytes at `ptr`, which must lie in
    /// the buffer `alloc` returned: anything else is answered with a 500
    /// frame rather than read. Returns the Response frame.
    pub fn handle<H: Handler + 'static>(&mut self, ptr: usize, len: usize, init: impl FnOnce() -> H) -> &[u8] {
        if self.req_buf.is_empty() || ptr != self.req_buf.as_ptr() as usize || len > self.req_buf.len() {
            crate::log::error("edge_handle: request frame outside the edge_alloc buffer");
            return self.plain(500, "request frame outside the edge_alloc buffer\n");
        }
        self.handler_or_init(init);
        let FrameServer { handler, req_buf, resp_buf } = self;
        let frame = &req_buf[..len];
        let resp = match abi::Request::decode(frame) {
            Err(e) => {
                crate::log::error(&format!("edge_handle: {}", e));
                Response::text(500, "malformed request frame\n")
            }
            Ok(f) => match Request::new(f.method, f.uri, f.remote_addr, f.headers, f.body) {
                Err(_) => Response::text(400, "malformed request URI\n"),
                Ok(req) => match handler {
                    Some(h) => h.handle(&req),
                    None => Response::text(503, "no handler\n"),
                },
            },
        };
        encode(resp_buf, &resp);
        resp_buf
    }

    /// The trigger frame of `len` bytes at `ptr`, which must lie in the
    /// buffer `alloc` returned (as for a request), or None.
    pub fn trigger_frame(&self, ptr: usize, len: usize) -> Option<&[u8]> {
        if self.req_buf.is_empty() || ptr != self.req_buf.as_ptr() as usize || len > self.req_buf.len() {
            crate::log::error("trigger frame outside the edge_alloc buffer");
            return None;
        }
        Some(&self.req_buf[..len])
    }

    fn plain(&mut self, status: u16, body: &str) -> &[u8] {
        encode(&mut self.resp_buf, &Response::text(status, body));
        &self.resp_buf
    }
}

/// Writes `resp` as a Response frame into `buf`, header fields sorted by
/// name.
fn encode(buf: &mut Vec<u8>, resp: &Response) {
    buf.clear();
    if buf.capacity() == 0 {
        buf.reserve(INITIAL_BUFFER);
    }
    let hs = resp.headers();
    abi::put_u16(buf, resp.status());
    abi::put_headers(buf, hs.len(), hs.iter().map(|&(n, v)| (n.as_bytes(), v)));
    abi::put_bytes(buf, resp.body());
}

/// The instance's one FrameServer.
///
/// SAFETY of the accesses in `export_*` (and in `msg`'s trigger exports):
/// a wasm32-wasi guest has one thread, the host serves one request or
/// trigger at a time per instance, and no host import calls back into the
/// guest, so the exports never overlap.
#[doc(hidden)]
pub static mut SERVER: FrameServer = FrameServer::new();

#[doc(hidden)]
pub fn export_alloc(size: i32) -> i32 {
    let server = unsafe { &mut *std::ptr::addr_of_mut!(SERVER) };
    match server.alloc(size) {
        Some(b) => b.as_ptr() as usize as i32,
        None => 0,
    }
}

#[doc(hidden)]
pub fn export_handle<H: Handler + 'static>(ptr: i32, len: i32, init: impl FnOnce() -> H) -> i64 {
    let server = unsafe { &mut *std::ptr::addr_of_mut!(SERVER) };
    crate::log::install_panic_hook();
    let out = server.handle(ptr as u32 as usize, len as u32 as usize, init);
    abi::pack_ptr_len(out.as_ptr() as usize as u32, out.len() as u32) as i64
}

/// Exports `edge_abi_version`, `edge_alloc` and `edge_handle` serving the
/// handler that `$init` (a function or closure taking nothing) returns.
/// The handler is built on the first request, so `$init` may use the host
/// imports (configuration, logging).
///
/// ```ignore
/// fn app() -> impl edge::Handler {
///     edge::Router::new(()).get("/", |_: &mut (), _: &edge::Request| edge::Response::text(200, "hello"))
/// }
/// edge::export_handler!(app);
/// ```
#[macro_export]
macro_rules! export_handler {
    ($init:expr) => {
        #[no_mangle]
        pub extern "C" fn edge_abi_version() -> i32 {
            $crate::abi::VERSION
        }

        #[no_mangle]
        pub extern "C" fn edge_alloc(size: i32) -> i32 {
            $crate::server::export_alloc(size)
        }

        #[no_mangle]
        pub extern "C" fn edge_handle(ptr: i32, len: i32) -> i64 {
            $crate::server::export_handle(ptr, len, $init)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(frame: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let r = abi::Response::decode(frame).unwrap();
        let hs = r
            .headers
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        (r.status, hs, r.body.to_vec())
    }

    fn echo() -> impl Handler {
        |r: &Request| {
            Response::text(200, r.body().to_vec()).with_header("x-method", r.method()).with_header("A-First", "1")
        }
    }

    fn serve(s: &mut FrameServer, req: &abi::Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut frame = Vec::new();
        req.encode(&mut frame);
        let buf = s.alloc(frame.len() as i32).unwrap();
        buf[..frame.len()].copy_from_slice(&frame);
        let ptr = buf.as_ptr() as usize;
        decode(s.handle(ptr, frame.len(), echo))
    }

    #[test]
    fn frames() {
        let mut s = FrameServer::new();
        let req = abi::Request { method: b"POST", uri: b"/x", body: b"hi", ..Default::default() };
        let (status, hs, body) = serve(&mut s, &req);
        assert_eq!((status, body.as_slice()), (200, &b"hi"[..]));
        let names: Vec<&str> = hs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["A-First", "Content-Type", "X-Method"]);

        let bad_uri = abi::Request { method: b"GET", uri: b"/%zz", ..Default::default() };
        assert_eq!(serve(&mut s, &bad_uri).0, 400);

        // A pointer that is not the buffer's.
        let buf = s.alloc(10).unwrap().as_ptr() as usize;
        let (status, _, body) = decode(s.handle(buf + 1, 5, echo));
        assert_eq!((status, body.as_slice()), (500, &b"request frame outside the edge_alloc buffer\n"[..]));
        // Garbage in the buffer.
        let buf = s.alloc(3).unwrap();
        buf[..3].copy_from_slice(b"\xff\xff\xff");
        let ptr = buf.as_ptr() as usize;
        assert_eq!(decode(s.handle(ptr, 3, echo)).0, 500);
        assert!(s.alloc(-1).is_none());
        assert!(s.alloc(i32::MAX).is_none());
    }

    #[test]
    fn trigger_frames() {
        let mut s = FrameServer::new();
        assert_eq!(s.trigger_frame(8, 0), None); // no edge_alloc yet
        let buf = s.alloc(4).unwrap();
        buf[..4].copy_from_slice(b"abcd");
        let ptr = buf.as_ptr() as usize;
        assert_eq!(s.trigger_frame(ptr, 4), Some(&b"abcd"[..]));
        assert_eq!(s.trigger_frame(ptr + 1, 3), None);
        assert_eq!(s.trigger_frame(ptr, INITIAL_BUFFER + 1), None);
    }
}
