//! The module's key-value store (version 2): keys of up to 512 bytes, each
//! with a value and a version that changes on every write. The agent keeps
//! it on the device, one store per module name: every version of the
//! module sees the same keys, they survive upgrades and rollbacks, and no
//! other module can reach them. The signed manifest must grant it
//! (`capabilities.kv`); without, every call fails with `ErrorKind::Denied`,
//! and a write over its quota with `ErrorKind::TooLarge`.
//!
//! ```no_run
//! // Count visits atomically, whatever else runs at the same time.
//! let n = edge::kv::update(b"visits", |old| {
//!     let n: u64 = old.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0);
//!     Ok((n + 1).to_string().into_bytes())
//! })?;
//! # Ok::<(), edge::Error>(())
//! ```

use crate::abi::{self, KvRequest};
use crate::error::{Error, ErrorKind, Result};
use crate::host::{self, Import};

/// A key with its value and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub version: u64,
}

fn run<T>(req: &KvRequest<'_>, f: impl FnOnce(abi::KvResult<'_>) -> T) -> Result<T> {
    let mut frame = Vec::with_capacity(32 + req.key.len() + req.value.len());
    req.encode(&mut frame);
    let mut buf = Vec::new();
    host::call(Import::Kv, &frame, &mut buf)?;
    match abi::decode_kv_result(req.op, &buf) {
        Err(e) => Err(Error::frame(abi::FN_KV, e)),
        Ok(Err(e)) => Err(Error::host(abi::FN_KV, e)),
        Ok(Ok(r)) => Ok(f(r)),
    }
}

/// The entry of `key`, or None if it does not exist.
pub fn get(key: &[u8]) -> Result<Option<Entry>> {
    run(&KvRequest { op: abi::KV_GET, key, ..Default::default() }, |r| {
        if r.found {
            Some(Entry { key: key.to_vec(), value: r.value.to_vec(), version: r.version })
        } else {
            None
        }
    })
}

/// Stores `value` under `key` whatever its version; returns the new version.
pub fn set(key: &[u8], value: &[u8]) -> Result<u64> {
    run(&KvRequest { op: abi::KV_SET, key, value, ..Default::default() }, |r| r.version)
}

/// Stores `value` under `key` only if the key's version is `version` now
/// (0: only if it does not exist); `ErrorKind::Conflict` otherwise.
pub fn compare_and_set(key: &[u8], value: &[u8], version: u64) -> Result<u64> {
    run(&KvRequest { op: abi::KV_COMPARE_AND_SET, key, value, version, ..Default::default() }, |r| r.version)
}

/// Removes `key`; reports whether it existed.
pub fn delete(key: &[u8]) -> Result<bool> {
    run(&KvRequest { op: abi::KV_DELETE, key, ..Default::default() }, |r| r.found)
}

/// Removes `key` only if it has `version` (`ErrorKind::Conflict` otherwise).
pub fn delete_version(key: &[u8], version: u64) -> Result<bool> {
    if version == 0 {
        return Err(Error::new(ErrorKind::BadRequest, abi::FN_KV, "delete_version with version 0"));
    }
    run(&KvRequest { op: abi::KV_DELETE, key, version, ..Default::default() }, |r| r.found)
}

/// The entries whose key starts with `prefix`, in byte order, after the key
/// `after` (empty: from the first), at most `limit` (0: the host's default
/// of 100; at most 1000); the bool says that keys are left.
pub fn list(prefix: &[u8], after: &[u8], limit: u32) -> Result<(Vec<Entry>, bool)> {
    run(&KvRequest { op: abi::KV_LIST, key: prefix, after, limit, ..Default::default() }, |r| {
        let entries = r
            .entries
            .iter()
            .map(|e| Entry { key: e.key.to_vec(), value: e.value.to_vec(), version: e.version })
            .collect();
        (entries, r.more)
    })
}

/// Changes the value of `key` with `f` atomically: reads the entry, calls
/// `f` with its value (None if the key does not exist) and stores what it
/// returns with compare_and_set, again from the start when another request
/// changed the key meanwhile. Returns the new version; `f` may run more
/// than once, and an error from it ends the update.
pub fn update<F>(key: &[u8], mut f: F) -> Result<u64>
where
    F: FnMut(Option<&[u8]>) -> Result<Vec<u8>>,
{
    loop {
        let e = get(key)?;
        let (old, version) = match &e {
            Some(e) => (Some(&e.value[..]), e.version),
            None => (None, 0),
        };
        let v = f(old)?;
        match compare_and_set(key, &v, version) {
            Err(err) if err.kind() == ErrorKind::Conflict => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frames of docs/ABI.md section 6.11 and 6.12.
    #[test]
    fn frames_match_the_spec() {
        let mut b = Vec::new();
        KvRequest { op: abi::KV_COMPARE_AND_SET, key: b"n", value: b"7", version: 3, ..Default::default() }.encode(&mut b);
        assert_eq!(b, [5, 1, 0, 0, 0, b'n', 1, 0, 0, 0, b'7', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let get = [0u8, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, b'7'];
        let r = abi::decode_kv_result(abi::KV_GET, &get).unwrap().unwrap();
        assert!(r.found && r.version == 3 && r.value == b"7");
        let list = [0u8, 1, 0, 0, 0, 1, 0, 0, 0, b'a', 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, b'x', 0];
        let r = abi::decode_kv_result(abi::KV_LIST, &list).unwrap().unwrap();
        assert_eq!(r.entries, vec![abi::KvEntry { key: b"a", version: 1, value: b"x" }]);
        assert!(!r.more);
        // A flag other than 0 or 1, a hostile count and trailing bytes are refused.
        assert!(abi::decode_kv_result(abi::KV_DELETE, &[0, 2]).is_err());
        assert!(abi::decode_kv_result(abi::KV_LIST, &[0, 0xff, 0xff, 0xff, 0xff, 0]).is_err());
        assert!(abi::decode_kv_result(abi::KV_SET, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 9]).is_err());
        // The host's conflict is ErrorKind::Conflict.
        let mut conflict = vec![1u8, 9];
        abi::put_bytes(&mut conflict, b"key n has version 4, want 3");
        let e = abi::decode_kv_result(abi::KV_COMPARE_AND_SET, &conflict).unwrap().unwrap_err();
        assert_eq!(Error::host(abi::FN_KV, e).kind(), ErrorKind::Conflict);
    }
}
