//! The host imports (module "edge") and the result-length convention.
//!
//! A call that returns data gets a buffer. A result n ≥ 0 is the result's
//! length: written if n ≤ the buffer's capacity, otherwise kept pending by
//! the host and fetched with `result_read` into a buffer of n bytes. A
//! negative n is one of the `abi::ERR_*` codes.
//!
//! Outside Wasm (unit tests on the build machine) there is no host: every
//! import fails with `ERR_NOT_FOUND`-like errors (`msg_publish` with
//! `unavailable`, as a Go module's Publish without a broker) and logs go
//! to stderr.

use crate::abi;
use crate::error::Error;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "edge")]
    extern "C" {
        pub fn log(level: i32, ptr: *const u8, len: u32);
        pub fn config_get(key_ptr: *const u8, key_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn sql(req_ptr: *const u8, req_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn http_fetch(req_ptr: *const u8, req_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn result_read(buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn kv(req_ptr: *const u8, req_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn call(req_ptr: *const u8, req_len: u32, buf_ptr: *mut u8, buf_cap: u32) -> i32;
        pub fn msg_publish(req_ptr: *const u8, req_len: u32) -> i32;
    }
}

/// A data-returning import: (request, buffer) → length or code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Import {
    ConfigGet,
    Sql,
    HttpFetch,
    Kv,
    Call,
}

impl Import {
    pub fn name(self) -> &'static str {
        match self {
            Import::ConfigGet => abi::FN_CONFIG_GET,
            Import::Sql => abi::FN_SQL,
            Import::HttpFetch => abi::FN_HTTP_FETCH,
            Import::Kv => abi::FN_KV,
            Import::Call => abi::FN_CALL,
        }
    }
}

/// Calls the import with raw pointers and lengths, exactly as given: the
/// host bounds-checks them. Safe because the host only reads and writes
/// guest memory through its bounds checks; a wrong pointer yields
/// `ERR_MEMORY`, not undefined behaviour in the guest (but it may
/// overwrite guest memory the caller owns).
#[cfg(target_arch = "wasm32")]
pub fn raw_call(f: Import, req_ptr: u32, req_len: u32, buf_ptr: u32, buf_cap: u32) -> i32 {
    let (rp, bp) = (req_ptr as usize as *const u8, buf_ptr as usize as *mut u8);
    unsafe {
        match f {
            Import::ConfigGet => imports::config_get(rp, req_len, bp, buf_cap),
            Import::Sql => imports::sql(rp, req_len, bp, buf_cap),
            Import::HttpFetch => imports::http_fetch(rp, req_len, bp, buf_cap),
            Import::Kv => imports::kv(rp, req_len, bp, buf_cap),
            Import::Call => imports::call(rp, req_len, bp, buf_cap),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn raw_call(_: Import, _: u32, _: u32, _: u32, _: u32) -> i32 {
    abi::ERR_NOT_FOUND
}

/// Calls `result_read` with a raw pointer and capacity.
#[cfg(target_arch = "wasm32")]
pub fn raw_result_read(buf_ptr: u32, buf_cap: u32) -> i32 {
    unsafe { imports::result_read(buf_ptr as usize as *mut u8, buf_cap) }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn raw_result_read(_: u32, _: u32) -> i32 {
    abi::ERR_NO_RESULT
}

/// Calls `msg_publish` with a raw pointer and length: 0 (sent), an
/// `abi::ErrorCode` (> 0) or an `abi::ERR_*` (< 0).
#[cfg(target_arch = "wasm32")]
pub fn raw_publish(req_ptr: u32, req_len: u32) -> i32 {
    unsafe { imports::msg_publish(req_ptr as usize as *const u8, req_len) }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn raw_publish(_: u32, _: u32) -> i32 {
    abi::ErrorCode::Unavailable.to_u8() as i32
}

/// Publishes a PublishRequest frame; the result is that of `raw_publish`.
pub fn publish(req: &[u8]) -> i32 {
    raw_publish(req.as_ptr() as usize as u32, req.len() as u32)
}

/// Calls `log` with a raw pointer and length.
#[cfg(target_arch = "wasm32")]
pub fn raw_log(level: i32, ptr: u32, len: u32) {
    unsafe { imports::log(level, ptr as usize as *const u8, len) }
}

#[cfg(not(target_arch = "wasm32"))]
pub fn raw_log(level: i32, ptr: u32, len: u32) {
    let _ = (level, ptr, len);
}

/// Sends a log record.
pub fn log(level: i32, msg: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    raw_log(level, msg.as_ptr() as u32, msg.len() as u32);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("edge log level {}: {}", level, String::from_utf8_lossy(msg));
}

/// The raw outcome of a data-returning call: the result's length (placed
/// in `buf`) or the negative code.
pub fn call_raw(f: Import, req: &[u8], buf: &mut Vec<u8>) -> Result<(), i32> {
    buf.clear();
    if buf.capacity() == 0 {
        buf.reserve(4096);
    }
    let cap = buf.capacity();
    let n = raw_call(f, req.as_ptr() as usize as u32, req.len() as u32, buf.as_mut_ptr() as usize as u32, cap as u32);
    if n < 0 {
        return Err(n);
    }
    let n = n as usize;
    if n <= cap {
        // SAFETY: the host wrote n ≤ capacity bytes at buf's pointer.
        unsafe { buf.set_len(n) };
        return Ok(());
    }
    read_pending(buf, n)
}

/// Fetches a pending result of `n` bytes into `buf`.
pub fn read_pending(buf: &mut Vec<u8>, n: usize) -> Result<(), i32> {
    buf.clear();
    buf.reserve(n);
    let m = raw_result_read(buf.as_mut_ptr() as usize as u32, n as u32);
    if m < 0 {
        return Err(m);
    }
    if m as usize > n {
        return Err(abi::ERR_TOO_LARGE);
    }
    // SAFETY: the host wrote m ≤ n ≤ capacity bytes.
    unsafe { buf.set_len(m as usize) };
    Ok(())
}

/// Calls a data-returning import and returns its result in `buf`, or an
/// error of kind HostCall (or TooLarge) naming the import.
pub fn call(f: Import, req: &[u8], buf: &mut Vec<u8>) -> Result<(), Error> {
    call_raw(f, req, buf).map_err(|code| Error::from_code(f.name(), code))
}
