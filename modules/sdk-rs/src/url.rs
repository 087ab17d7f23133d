//! The request target: path and query, parsed as the Go SDK parses them
//! (which is how net/url parses an origin-form target).

use std::borrow::Cow;

/// The request target is not a valid origin-form or absolute-form URI (for
/// example a bad %-escape, a space or a control character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadUri;

/// A parsed request target. Path is %-decoded and may hold any bytes;
/// the raw forms are as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub path: Cow<'a, [u8]>,
    pub raw_path: &'a [u8],
    pub raw_query: &'a [u8],
}

/// Parses a request target: `*`, an origin-form `/path?query` or an
/// absolute-form `http://host/path?query`, of which it keeps path and query.
pub(crate) fn parse_target(uri: &[u8]) -> Result<Target<'_>, BadUri> {
    if uri == b"*" {
        return Ok(Target { path: Cow::Borrowed(uri), raw_path: uri, raw_query: b"" });
    }
    let rest: &[u8] = if uri.first() == Some(&b'/') {
        uri
    } else {
        let sep = find(uri, b"://").ok_or(BadUri)?;
        if sep == 0 || !is_scheme(&uri[..sep]) {
            return Err(BadUri);
        }
        let after = &uri[sep + 3..];
        match after.iter().position(|&c| c == b'/' || c == b'?') {
            None => b"/",
            // "http://h?q" means path "/" and query "q": the path slice
            // cannot be borrowed, so the target is split below by hand.
            Some(i) if after[i] == b'?' => {
                return finish(uri, b"/", &after[i + 1..]);
            }
            Some(i) => &after[i..],
        }
    };
    let (raw_path, raw_query) = match rest.iter().position(|&c| c == b'?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    finish(uri, raw_path, raw_query)
}

fn finish<'a>(uri: &[u8], raw_path: &'a [u8], raw_query: &'a [u8]) -> Result<Target<'a>, BadUri> {
    let path = unescape(raw_path, false).ok_or(BadUri)?;
    // Control characters and spaces anywhere, as net/url refuses them.
    if uri.iter().any(|&c| c <= b' ' || c == 0x7F) {
        return Err(BadUri);
    }
    Ok(Target { path, raw_path, raw_query })
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

fn is_scheme(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.'))
    })
}

/// Decodes %XX escapes, and '+' as a space when `plus_space` is set (query
/// components). None for a malformed escape.
pub fn unescape(s: &[u8], plus_space: bool) -> Option<Cow<'_, [u8]>> {
    if !s.iter().any(|&c| c == b'%' || (plus_space && c == b'+')) {
        return Some(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len() {
                    return None;
                }
                let hi = unhex(s[i + 1])?;
                let lo = unhex(s[i + 2])?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(Cow::Owned(out))
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The parsed query of a request, like Go's url.Values: keys and values
/// %-decoded, in the order sent; a key may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>,
}

impl<'a> Query<'a> {
    /// Parses a raw query. Pairs are separated by '&'; a pair with a bad
    /// escape or a ';' is dropped, as Go's net/url does.
    pub fn parse(raw: &'a [u8]) -> Query<'a> {
        let mut pairs = Vec::new();
        for pair in raw.split(|&c| c == b'&') {
            if pair.is_empty() || pair.contains(&b';') {
                continue;
            }
            let (k, v) = match pair.iter().position(|&c| c == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            if let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) {
                pairs.push((k, v));
            }
        }
        Query { pairs }
    }

    /// The first value of `key` as bytes, None if the key is absent.
    pub fn get_bytes(&self, key: &str) -> Option<&[u8]> {
        self.pairs.iter().find(|(k, _)| &**k == key.as_bytes()).map(|(_, v)| &**v)
    }

    /// The first value of `key`, None if absent or not valid UTF-8.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_bytes(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Reports whether `key` is present (with any value, even empty).
    pub fn has(&self, key: &str) -> bool {
        self.get_bytes(key).is_some()
    }

    /// Every value of `key`, in order.
    pub fn get_all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.pairs.iter().filter(move |(k, _)| &**k == key.as_bytes()).map(|(_, v)| &**v)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (&**k, &**v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok: &[(&str, &[u8], &str, &str)] = &[
            ("/", b"/", "/", ""),
            ("/orders?id=2", b"/orders", "/orders", "id=2"),
            ("/a%20b?x", b"/a b", "/a%20b", "x"),
            ("/%6Frders", b"/orders", "/%6Frders", ""),
            ("/%ff", b"/\xff", "/%ff", ""),
            ("*", b"*", "*", ""),
            ("http://h/p?q=1", b"/p", "/p", "q=1"),
            ("http://h", b"/", "/", ""),
            ("http://h?q", b"/", "/", "q"),
            ("/a+b", b"/a+b", "/a+b", ""),
            ("/?", b"/", "/", ""),
        ];
        for &(uri, path, raw_path, raw_query) in ok {
            let t = parse_target(uri.as_bytes()).unwrap_or_else(|_| panic!("parse {:?}", uri));
            assert_eq!((&*t.path, t.raw_path, t.raw_query), (path, raw_path.as_bytes(), raw_query.as_bytes()), "{}", uri);
        }
        for bad in ["", "orders", "/a%2", "/a%zz", "/a b", "/a\x7f", "://x/", "1http://h/", "/x?\ty", "/%"] {
            assert_eq!(parse_target(bad.as_bytes()), Err(BadUri), "{:?}", bad);
        }
    }

    #[test]
    fn queries() {
        let q = Query::parse(b"id=2&id=3&a+b=%41&bad=%zz&semi=1;2&&flag&e=");
        assert_eq!(q.get("id"), Some("2"));
        assert_eq!(q.get_all("id").collect::<Vec<_>>(), vec![&b"2"[..], b"3"]);
        assert_eq!(q.get("a b"), Some("A"));
        assert!(!q.has("bad") && !q.has("semi"));
        assert!(q.has("flag") && q.has("e"));
        assert_eq!(q.get("e"), Some(""));
        assert_eq!(Query::parse(b"id=%ff").get_bytes("id"), Some(&b"\xff"[..]));
        assert_eq!(Query::parse(b"id=%ff").get("id"), None);
    }
}
