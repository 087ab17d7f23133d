//! A JSON writer that appends to a byte buffer: a port of the Go SDK's
//! `sdk/jsonw`, writing the same bytes for the same values (floats as
//! serde_json writes them, `<`, `>`, `&`, U+2028 and U+2029 escaped as Go
//! escapes them, invalid UTF-8 as `\ufffd`).

use crate::gostr::{self, RUNE_ERROR};

/// Appends JSON values to a buffer, inserting commas itself. It does not
/// check nesting: a caller that opens an object must close it. The output
/// is compact.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
    comma: bool,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer whose buffer starts with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Writer {
        Writer { buf: Vec::with_capacity(n), comma: false }
    }

    /// Empties the output, keeping the buffer for reuse.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.comma = false;
    }

    /// The output so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the output, leaving the writer empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.comma = false;
        std::mem::take(&mut self.buf)
    }

    fn sep(&mut self) {
        if self.comma {
            self.buf.push(b',');
        }
    }

    pub fn begin_object(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.comma = false;
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.comma = true;
    }

    pub fn begin_array(&mut self) {
        self.sep();
        self.buf.push(b'[');
        self.comma = false;
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.comma = true;
    }

    /// Writes an object key and its colon; the next call writes its value.
    pub fn key(&mut self, k: &str) {
        self.sep();
        push_string(&mut self.buf, k.as_bytes());
        self.buf.push(b':');
        self.comma = false;
    }

    /// Writes a string value.
    pub fn string(&mut self, s: &str) {
        self.string_bytes(s.as_bytes());
    }

    /// Writes text that may not be valid UTF-8 (a database value, a header):
    /// each invalid byte becomes `\ufffd`.
    pub fn string_bytes(&mut self, s: &[u8]) {
        self.sep();
        push_string(&mut self.buf, s);
        self.comma = true;
    }

    pub fn int(&mut self, v: i64) {
        self.sep();
        push_int(&mut self.buf, v);
        self.comma = true;
    }

    pub fn float(&mut self, v: f64) {
        self.sep();
        push_float(&mut self.buf, v);
        self.comma = true;
    }

    pub fn bool(&mut self, v: bool) {
        self.sep();
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
        self.comma = true;
    }

    pub fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"null");
        self.comma = true;
    }

    /// Writes `b`, which must be one complete JSON value, as is.
    pub fn raw(&mut self, b: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(b);
        self.comma = true;
    }
}

/// Appends the decimal form of `v`.
pub fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `v` as a JSON number. Integral values keep a ".0" (56 → 56.0),
/// as serde_json writes f64 values. Like encoding/json it switches to
/// exponent notation below 1e-6 and from 1e21 on (1e-7, 1e+21). NaN and
/// infinities are written as null, as serde_json does.
pub fn push_float(out: &mut Vec<u8>, v: f64) {
    use std::io::Write;
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Shortest digits: Rust writes 1e-7 and 1.5e21, Go 1e-07 (which
        // encoding/json tidies to 1e-7) and 1.5e+21.
        let start = out.len();
        let _ = write!(out, "{:e}", v);
        if let Some(e) = out[start..].iter().position(|&c| c == b'e') {
            let at = start + e + 1;
            if out.get(at) != Some(&b'-') {
                out.insert(at, b'+');
            }
        }
        return;
    }
    let start = out.len();
    let _ = write!(out, "{}", v);
    if !out[start..].contains(&b'.') {
        out.extend_from_slice(b".0");
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string: `"` and `\` and control characters
/// escaped, and also `<`, `>`, `&`, U+2028 and U+2029 so the output is safe
/// in HTML and JavaScript, as encoding/json does. Every invalid UTF-8 byte
/// becomes `\ufffd`.
pub fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < 0x80 {
            if c >= 0x20 && c != b'"' && c != b'\\' && c != b'<' && c != b'>' && c != b'&' {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match c {
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 0xF) as usize]]),
            }
            i += 1;
            start = i;
            continue;
        }
        let (r, size) = gostr::decode_rune(&s[i..]);
        if r == RUNE_ERROR && size == 1 {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\ufffd");
            i += 1;
            start = i;
            continue;
        }
        if r == 0x2028 || r == 0x2029 {
            out.extend_from_slice(&s[start..i]);
            out.extend_from_slice(b"\\u202");
            out.push(HEX[(r & 0xF) as usize]);
            i += size;
            start = i;
            continue;
        }
        i += size;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}
