//! Outbound HTTP through the host, which allows only the hosts the agent's
//! configuration lists (anything else fails with `ErrorKind::Denied`) and
//! bounds the time and the size of the answer.

use std::time::Duration;

use crate::abi;
use crate::error::{Error, ErrorKind, Result};
use crate::host::{self, Import};

/// An outbound request being built; `send` makes it.
///
/// ```no_run
/// let resp = edge::fetch::request("GET", "http://inventory.local/stock/12")
///     .header("Accept", "application/json")
///     .timeout(std::time::Duration::from_secs(2))
///     .send()?;
/// if resp.status == 200 { /* use resp.body */ }
/// # Ok::<(), edge::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FetchRequest<'a> {
    method: &'a str,
    url: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    timeout: Option<Duration>,
}

/// Starts a request of `method` to `url` (http or https).
pub fn request<'a>(method: &'a str, url: &'a str) -> FetchRequest<'a> {
    FetchRequest { method, url, headers: Vec::new(), body: b"", timeout: None }
}

impl<'a> FetchRequest<'a> {
    /// Adds a header field.
    pub fn header(mut self, name: &'a str, value: &'a (impl AsRef<[u8]> + ?Sized)) -> FetchRequest<'a> {
        self.headers.push((name, value.as_ref()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> FetchRequest<'a> {
        self.body = body;
        self
    }

    /// Bounds the whole exchange; without it the host's default applies.
    pub fn timeout(mut self, d: Duration) -> FetchRequest<'a> {
        self.timeout = Some(d);
        self
    }

    /// Encodes the FetchRequest frame.
    fn frame(&self) -> Result<Vec<u8>> {
        let timeout_ms = match self.timeout {
            None => 0,
            Some(d) if d.is_zero() => return Err(Error::new(ErrorKind::Timeout, abi::FN_HTTP_FETCH, "deadline passed")),
            Some(d) => d.as_millis().clamp(1, 1 << 31) as u32,
        };
        let mut b = Vec::with_capacity(64 + self.url.len() + self.body.len());
        abi::put_bytes(&mut b, self.method.as_bytes());
        abi::put_bytes(&mut b, self.url.as_bytes());
        abi::put_headers(&mut b, self.headers.len(), self.headers.iter().map(|&(n, v)| (n.as_bytes(), v)));
        abi::put_bytes(&mut b, self.body);
        abi::put_u32(&mut b, timeout_ms);
        Ok(b)
    }

    /// Makes the request and reads the whole answer.
    pub fn send(&self) -> Result<FetchResponse> {
        let req = self.frame()?;
        let mut buf = Vec::new();
        host::call(Import::HttpFetch, &req, &mut buf)?;
        let resp = match abi::decode_fetch_result(&buf) {
            Err(e) => return Err(Error::frame(abi::FN_HTTP_FETCH, e)),
            Ok(Err(e)) => return Err(Error::host(abi::FN_HTTP_FETCH, e)),
            Ok(Ok(r)) => r,
        };
        Ok(FetchResponse {
            status: resp.status,
            headers: resp.headers.iter().map(|&(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec())).collect(),
            body: resp.body.to_vec(),
        })
    }
}

/// The answer to an outbound request, read whole (the host bounds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub status: u16,
    /// Header fields in the order the host sent them.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl FetchResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_matches_abi() {
        let r = request("POST", "http://h/x").header("X-A", "1").body(b"b").timeout(Duration::from_millis(1500));
        let got = r.frame().unwrap();
        let want = abi::FetchRequest {
            method: b"POST",
            url: b"http://h/x",
            headers: vec![(b"X-A", b"1")],
            body: b"b",
            timeout_ms: 1500,
        };
        assert_eq!(abi::FetchRequest::decode(&got).unwrap(), want);
        let e = request("GET", "http://h/").timeout(Duration::ZERO).frame().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
