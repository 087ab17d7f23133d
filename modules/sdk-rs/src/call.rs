//! Calls to another module on the same device (version 2), through the
//! host: no socket in the guest. Allowed only to the modules the signed
//! manifest lists in `capabilities.call` (else `ErrorKind::Denied`, as is a
//! loop or a chain of more than `abi::MAX_CALL_DEPTH` calls); a module that
//! does not run on the device gives `ErrorKind::Unavailable`. The callee
//! sees the caller's name in `Edge-Caller` (`abi::HEADER_CALLER`), which the
//! host removes from every request that did not come from a module.
//!
//! ```no_run
//! let resp = edge::call::request("orders", "GET", "/orders").send()?;
//! if resp.status == 200 { /* use resp.body */ }
//! # Ok::<(), edge::Error>(())
//! ```

use std::time::Duration;

use crate::abi;
use crate::error::{Error, ErrorKind, Result};
use crate::fetch::FetchResponse;
use crate::host::{self, Import};

/// A call being built; `send` makes it.
#[derive(Clone, Debug)]
pub struct CallRequest<'a> {
    module: &'a str,
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    timeout: Option<Duration>,
}

/// Starts a call of `method` on `path` (path and query) of `module`.
pub fn request<'a>(module: &'a str, method: &'a str, path: &'a str) -> CallRequest<'a> {
    CallRequest { module, method, path, headers: Vec::new(), body: b"", timeout: None }
}

impl<'a> CallRequest<'a> {
    /// Adds a header field.
    pub fn header(mut self, name: &'a str, value: &'a (impl AsRef<[u8]> + ?Sized)) -> CallRequest<'a> {
        self.headers.push((name, value.as_ref()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> CallRequest<'a> {
        self.body = body;
        self
    }

    /// Bounds the call; it never outlasts what is left of the request's own
    /// deadline either.
    pub fn timeout(mut self, d: Duration) -> CallRequest<'a> {
        self.timeout = Some(d);
        self
    }

    fn frame(&self) -> Result<Vec<u8>> {
        let timeout_ms = match self.timeout {
            None => 0,
            Some(d) if d.is_zero() => return Err(Error::new(ErrorKind::Timeout, abi::FN_CALL, "deadline passed")),
            Some(d) => d.as_millis().clamp(1, 1 << 31) as u32,
        };
        let mut b = Vec::with_capacity(64 + self.path.len() + self.body.len());
        abi::CallRequest {
            module: self.module.as_bytes(),
            method: self.method.as_bytes(),
            uri: self.path.as_bytes(),
            headers: self.headers.iter().map(|&(n, v)| (n.as_bytes(), v)).collect(),
            body: self.body,
            timeout_ms,
        }
        .encode(&mut b);
        Ok(b)
    }

    /// Makes the call; the callee's answer, whatever its status.
    pub fn send(&self) -> Result<FetchResponse> {
        let req = self.frame()?;
        let mut buf = Vec::new();
        host::call(Import::Call, &req, &mut buf)?;
        let resp = match abi::decode_fetch_result(&buf) {
            Err(e) => return Err(Error::frame(abi::FN_CALL, e)),
            Ok(Err(e)) => return Err(Error::host(abi::FN_CALL, e)),
            Ok(Ok(r)) => r,
        };
        Ok(FetchResponse {
            status: resp.status,
            headers: resp.headers.iter().map(|&(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec())).collect(),
            body: resp.body.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame of docs/ABI.md section 6.13.
    #[test]
    fn frame_matches_the_spec() {
        let got = request("orders", "GET", "/orders").timeout(Duration::from_millis(500)).frame().unwrap();
        let mut want = Vec::new();
        for s in [&b"orders"[..], b"GET", b"/orders"] {
            abi::put_bytes(&mut want, s);
        }
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0xf4, 1, 0, 0]);
        assert_eq!(got, want);
        let e = request("orders", "GET", "/").timeout(Duration::ZERO).frame().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
