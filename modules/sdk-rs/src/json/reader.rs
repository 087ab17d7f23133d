//! A pull JSON reader: the caller asks for the value it expects next.
//!
//! It is a port of the Go SDK's `sdk/jsond`, with the same errors at the
//! same offsets, so a Rust module and a Go module answer bad input with the
//! same message. Two differences in shape, none in behaviour: objects and
//! arrays are walked with `next_key`/`next_item` instead of callbacks, and
//! `skip` keeps its own stack instead of recursing (a Wasm guest's stack is
//! small and unchecked; Go's grows).

use std::borrow::Cow;
use std::fmt;

use crate::gostr::{self, RUNE_ERROR};

/// The deepest nesting of arrays and objects accepted, as in encoding/json.
pub const MAX_DEPTH: usize = 10000;

/// What went wrong: the bytes are not JSON, or they are JSON of another
/// kind than the caller asked for (or a number out of range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    Type,
}

/// A decoding error at a byte offset of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: usize,
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Syntax => "json syntax error",
            ErrorKind::Type => "json value of wrong type",
        };
        write!(f, "{} at offset {}: {}", kind, self.offset, self.msg)
    }
}

impl std::error::Error for Error {}

/// The kind of the next value, as `peek` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Reads JSON values from a byte slice.
pub struct Reader<'a> {
    b: &'a [u8],
    off: usize,
    depth: usize,
    scratch: Vec<u8>,
}

/// The state of an object being read with `next_key`.
#[derive(Debug)]
pub struct Object {
    first: bool,
    done: bool,
}

/// The state of an array being read with `next_item`.
#[derive(Debug)]
pub struct Array {
    first: bool,
    done: bool,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, off: 0, depth: 0, scratch: Vec::new() }
    }

    /// The number of bytes consumed.
    pub fn offset(&self) -> usize {
        self.off
    }

    fn syntax<T>(&self, msg: &str) -> Result<T> {
        Err(Error { kind: ErrorKind::Syntax, offset: self.off, msg: msg.to_string() })
    }

    fn type_err<T>(&self, msg: String) -> Result<T> {
        Err(Error { kind: ErrorKind::Type, offset: self.off, msg })
    }

    fn skip_space(&mut self) {
        while self.off < self.b.len() {
            match self.b[self.off] {
                b' ' | b'\t' | b'\n' | b'\r' => self.off += 1,
                _ => return,
            }
        }
    }

    fn at(&self, c: u8) -> bool {
        self.off < self.b.len() && self.b[self.off] == c
    }

    /// The kind of the next value, without consuming it. `Invalid` means
    /// the input ends or the next byte cannot start a value.
    pub fn peek(&mut self) -> Kind {
        self.skip_space();
        if self.off >= self.b.len() {
            return Kind::Invalid;
        }
        match self.b[self.off] {
            b'n' => Kind::Null,
            b't' | b'f' => Kind::Bool,
            b'"' => Kind::String,
            b'[' => Kind::Array,
            b'{' => Kind::Object,
            b'-' | b'0'..=b'9' => Kind::Number,
            _ => Kind::Invalid,
        }
    }

    /// Fails with a type error when the next value is not of kind `k`, or a
    /// syntax error when there is no value at all.
    fn expect(&mut self, k: Kind) -> Result<()> {
        let got = self.peek();
        if got == k {
            return Ok(());
        }
        if got == Kind::Invalid {
            if self.off >= self.b.len() {
                return self.syntax("unexpected end of input");
            }
            let msg = format!("invalid character {}", gostr::quote_rune(self.b[self.off] as u32));
            return self.syntax(&msg);
        }
        // Validate the offending value so that a syntax error wins.
        let start = self.off;
        self.skip()?;
        self.off = start;
        self.type_err(format!("want {}, got {}", k.name(), got.name()))
    }

    fn literal(&mut self, lit: &[u8]) -> Result<()> {
        if self.b.len() - self.off < lit.len() || &self.b[self.off..self.off + lit.len()] != lit {
            return self.syntax("invalid literal");
        }
        self.off += lit.len();
        Ok(())
    }

    /// Consumes a null if one is next and reports whether it did.
    pub fn null(&mut self) -> Result<bool> {
        if self.peek() != Kind::Null {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// Reads true or false.
    pub fn bool(&mut self) -> Result<bool> {
        self.expect(Kind::Bool)?;
        if self.b[self.off] == b't' {
            self.literal(b"true")?;
            return Ok(true);
        }
        self.literal(b"false")?;
        Ok(false)
    }

    /// Checks that only white space remains.
    pub fn end(&mut self) -> Result<()> {
        self.skip_space();
        if self.off != self.b.len() {
            return self.syntax("data after the top-level value");
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return self.syntax("nesting too deep");
        }
        self.depth += 1;
        Ok(())
    }

    /// Starts reading an object; call `next_key` for each member, then read
    /// the member's value.
    pub fn object(&mut self) -> Result<Object> {
        self.expect(Kind::Object)?;
        self.enter()?;
        self.off += 1;
        self.skip_space();
        if self.at(b'}') {
            self.off += 1;
            self.depth -= 1;
            return Ok(Object { first: true, done: true });
        }
        Ok(Object { first: true, done: false })
    }

    /// Returns the next member's key, or None at the end of the object. The
    /// caller must consume the member's value before calling again. A
    /// duplicate key is returned again: the caller decides.
    pub fn next_key(&mut self, o: &mut Object) -> Result<Option<Cow<'a, [u8]>>> {
        if o.done {
            return Ok(None);
        }
        if !o.first && self.object_sep()? {
            o.done = true;
            return Ok(None);
        }
        o.first = false;
        self.key().map(Some)
    }

    /// Reads what follows a member's value: true at the closing brace.
    fn object_sep(&mut self) -> Result<bool> {
        self.skip_space();
        if self.off >= self.b.len() {
            return self.syntax("unterminated object");
        }
        match self.b[self.off] {
            b',' => {
                self.off += 1;
                Ok(false)
            }
            b'}' => {
                self.off += 1;
                self.depth -= 1;
                Ok(true)
            }
            _ => self.syntax("want ',' or '}' in object"),
        }
    }

    /// Reads a member's key and its colon.
    fn key(&mut self) -> Result<Cow<'a, [u8]>> {
        self.skip_space();
        if !self.at(b'"') {
            return self.syntax("want object key");
        }
        let key = self.str()?;
        self.skip_space();
        if !self.at(b':') {
            return self.syntax("want ':' after object key");
        }
        self.off += 1;
        Ok(key)
    }

    /// Starts reading an array; `next_item` reports whether an element
    /// follows, which the caller then reads.
    pub fn array(&mut self) -> Result<Array> {
        self.expect(Kind::Array)?;
        self.enter()?;
        self.off += 1;
        self.skip_space();
        if self.at(b']') {
            self.off += 1;
            self.depth -= 1;
            return Ok(Array { first: true, done: true });
        }
        Ok(Array { first: true, done: false })
    }

    /// Reports whether another element follows.
    pub fn next_item(&mut self, a: &mut Array) -> Result<bool> {
        if a.done {
            return Ok(false);
        }
        if a.first {
            a.first = false;
            return Ok(true);
        }
        if self.array_sep()? {
            a.done = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads what follows an element: true at the closing bracket.
    fn array_sep(&mut self) -> Result<bool> {
        self.skip_space();
        if self.off >= self.b.len() {
            return self.syntax("unterminated array");
        }
        match self.b[self.off] {
            b',' => {
                self.off += 1;
                Ok(false)
            }
            b']' => {
                self.off += 1;
                self.depth -= 1;
                Ok(true)
            }
            _ => self.syntax("want ',' or ']' in array"),
        }
    }

    /// Consumes one value of any kind, checking its syntax.
    pub fn skip(&mut self) -> Result<()> {
        // open[i] is true for an object: the containers this call entered.
        let mut open: Vec<bool> = Vec::new();
        loop {
            // One value, or the opening of a non-empty container.
            let opened = match self.peek() {
                Kind::Null => self.literal(b"null").map(|_| false)?,
                Kind::Bool => self.bool().map(|_| false)?,
                Kind::Number => self.number().map(|_| false)?,
                Kind::String => self.str().map(|_| false)?,
                Kind::Array => {
                    let a = self.array()?;
                    if !a.done {
                        open.push(false);
                    }
                    !a.done
                }
                Kind::Object => {
                    let o = self.object()?;
                    if !o.done {
                        open.push(true);
                        self.key()?;
                    }
                    !o.done
                }
                Kind::Invalid => {
                    if self.off >= self.b.len() {
                        return self.syntax("unexpected end of input");
                    }
                    return self.syntax("invalid character");
                }
            };
            if opened {
                continue;
            }
            // A value is complete: close what it completes.
            loop {
                let is_object = match open.last() {
                    None => return Ok(()),
                    Some(&o) => o,
                };
                let closed = if is_object { self.object_sep()? } else { self.array_sep()? };
                if !closed {
                    if is_object {
                        self.key()?;
                    }
                    break;
                }
                open.pop();
            }
        }
    }

    /// Consumes a number token; the flag reports a fraction or exponent.
    fn number(&mut self) -> Result<(&'a [u8], bool)> {
        let b = self.b;
        let start = self.off;
        let mut i = self.off;
        let mut frac = false;
        let digit = |i: usize| i < b.len() && b[i].is_ascii_digit();
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if i < b.len() && b[i] == b'0' {
            i += 1;
        } else if i < b.len() && (b'1'..=b'9').contains(&b[i]) {
            while digit(i) {
                i += 1;
            }
        } else {
            self.off = i;
            return self.syntax("invalid number");
        }
        if i < b.len() && b[i] == b'.' {
            frac = true;
            i += 1;
            if !digit(i) {
                self.off = i;
                return self.syntax("invalid number: no digit after '.'");
            }
            while digit(i) {
                i += 1;
            }
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            frac = true;
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            if !digit(i) {
                self.off = i;
                return self.syntax("invalid number: no digit in exponent");
            }
            while digit(i) {
                i += 1;
            }
        }
        self.off = i;
        Ok((&b[start..i], frac))
    }

    /// Reads an integer. A fraction or an exponent (2.0, 1e3) is a type
    /// error, as for serde and encoding/json; so is a value outside i64.
    pub fn int(&mut self) -> Result<i64> {
        self.expect(Kind::Number)?;
        let start = self.off;
        let (tok, frac) = self.number()?;
        let text = std::str::from_utf8(tok).unwrap_or("");
        if frac {
            self.off = start;
            return self.type_err(format!("want integer, got {}", text));
        }
        match text.parse::<i64>() {
            Ok(v) => Ok(v),
            Err(_) => {
                self.off = start;
                self.type_err(format!("integer out of range: {}", text))
            }
        }
    }

    /// Reads an integer in the i32 range (SQL INT).
    pub fn int32(&mut self) -> Result<i32> {
        let start = self.off;
        let v = self.int()?;
        if v < i32::MIN as i64 || v > i32::MAX as i64 {
            self.off = start;
            self.skip_space();
            return self.type_err(format!("integer out of 32-bit range: {}", v));
        }
        Ok(v as i32)
    }

    /// Reads any number as an f64; one whose magnitude exceeds f64 is a
    /// type error.
    pub fn float(&mut self) -> Result<f64> {
        self.expect(Kind::Number)?;
        let start = self.off;
        let (tok, _) = self.number()?;
        let text = std::str::from_utf8(tok).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => {
                self.off = start;
                self.type_err(format!("number out of range: {}", text))
            }
        }
    }

    /// Reads a string. Invalid UTF-8 and lone surrogates become U+FFFD.
    pub fn string(&mut self) -> Result<String> {
        self.expect(Kind::String)?;
        let b = self.str()?;
        Ok(match b {
            Cow::Borrowed(s) => String::from_utf8_lossy(s).into_owned(),
            Cow::Owned(v) => String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        })
    }

    /// Consumes a string at the opening quote and returns its decoded
    /// bytes, which are valid UTF-8: borrowed from the input when it needs
    /// no decoding.
    fn str(&mut self) -> Result<Cow<'a, [u8]>> {
        self.off += 1; // opening quote
        let start = self.off;
        let b = self.b;
        let mut i = start;
        while i < b.len() {
            let c = b[i];
            if c == b'"' {
                self.off = i + 1;
                return Ok(Cow::Borrowed(&b[start..i]));
            } else if c == b'\\' || c < 0x20 {
                return self.str_slow(start, i);
            } else if c < 0x80 {
                i += 1;
            } else {
                let (r, size) = gostr::decode_rune(&b[i..]);
                if r == RUNE_ERROR && size == 1 {
                    return self.str_slow(start, i);
                }
                i += size;
            }
        }
        self.off = b.len();
        self.syntax("unterminated string")
    }

    /// Decodes escapes and replaces invalid UTF-8 from `i` on, with
    /// `b[start..i]` already known to be plain.
    fn str_slow(&mut self, start: usize, mut i: usize) -> Result<Cow<'a, [u8]>> {
        let b = self.b;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.extend_from_slice(&b[start..i]);
        let result = loop {
            if i >= b.len() {
                self.off = b.len();
                break self.syntax("unterminated string");
            }
            let c = b[i];
            if c == b'"' {
                self.off = i + 1;
                break Ok(Cow::Owned(out.clone()));
            } else if c < 0x20 {
                self.off = i;
                break self.syntax("control character in string");
            } else if c == b'\\' {
                i += 1;
                if i >= b.len() {
                    self.off = i;
                    break self.syntax("unterminated string");
                }
                match b[i] {
                    e @ (b'"' | b'\\' | b'/') => out.push(e),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0C),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => match hex4(&b[i + 1..]) {
                        None => {
                            self.off = i;
                            break self.syntax("invalid \\u escape");
                        }
                        Some(mut r) => {
                            i += 4;
                            if (0xD800..0xE000).contains(&r) {
                                // A high surrogate followed by an escaped low
                                // one is one code point; anything else U+FFFD.
                                let mut pair = None;
                                if i + 2 < b.len() && b[i + 1] == b'\\' && b[i + 2] == b'u' {
                                    pair = hex4(&b[i + 3..]);
                                }
                                match pair.and_then(|r2| decode_surrogates(r, r2)) {
                                    Some(dec) => {
                                        r = dec;
                                        i += 6;
                                    }
                                    None => r = RUNE_ERROR,
                                }
                            }
                            gostr::push_rune(&mut out, r);
                        }
                    },
                    _ => {
                        self.off = i;
                        break self.syntax("invalid escape");
                    }
                }
                i += 1;
            } else if c < 0x80 {
                out.push(c);
                i += 1;
            } else {
                let (r, size) = gostr::decode_rune(&b[i..]);
                if r == RUNE_ERROR && size == 1 {
                    gostr::push_rune(&mut out, RUNE_ERROR);
                } else {
                    out.extend_from_slice(&b[i..i + size]);
                }
                i += size;
            }
        };
        self.scratch = out;
        result
    }
}

/// Go's utf16.DecodeRune, None where it returns U+FFFD.
fn decode_surrogates(r1: u32, r2: u32) -> Option<u32> {
    if (0xD800..0xDC00).contains(&r1) && (0xDC00..0xE000).contains(&r2) {
        return Some((((r1 - 0xD800) << 10) | (r2 - 0xDC00)) + 0x10000);
    }
    None
}

/// Decodes the four hex digits at the start of `b`.
fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut r = 0u32;
    for &c in &b[..4] {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        r = (r << 4) | v as u32;
    }
    Some(r)
}

/// Reports whether `b` is exactly one JSON value with white space around.
pub fn valid(b: &[u8]) -> bool {
    let mut r = Reader::new(b);
    r.skip().is_ok() && r.end().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go's jsond TestSkipErrors: where and why skip stops on malformed
    // containers, the same offsets and messages as object and array give
    // (a service's answers quote them).
    #[test]
    fn skip_errors_as_in_go() {
        let deep_open = format!("{}[", r#"{"a":["#.repeat(MAX_DEPTH / 2));
        let deep_msg = format!("json syntax error at offset {}: nesting too deep", 6 * (MAX_DEPTH / 2));
        let cases: &[(&str, &str)] = &[
            ("[1 2]", "json syntax error at offset 3: want ',' or ']' in array"),
            ("[1,]", "json syntax error at offset 3: invalid character"),
            (r#"{"a" 1}"#, "json syntax error at offset 5: want ':' after object key"),
            (r#"{"a":1,}"#, "json syntax error at offset 7: want object key"),
            ("{1:2}", "json syntax error at offset 1: want object key"),
            (r#"{"a":1"#, "json syntax error at offset 6: unterminated object"),
            ("[[1]", "json syntax error at offset 4: unterminated array"),
            (r#"{"a":[1}"#, "json syntax error at offset 7: want ',' or ']' in array"),
            (r#"[{"a":1]"#, "json syntax error at offset 7: want ',' or '}' in object"),
            ("[", "json syntax error at offset 1: unexpected end of input"),
            (&deep_open, &deep_msg),
        ];
        for &(input, want) in cases {
            let got = Reader::new(input.as_bytes()).skip().map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "skip({:.30})", input);
        }
        // Nested to the limit, objects and arrays alternating: accepted,
        // without recursion (a Wasm interpreter allows ~2,000 frames).
        let deep = format!("{}{}", r#"{"a":["#.repeat(MAX_DEPTH / 2), "]}".repeat(MAX_DEPTH / 2));
        let mut r = Reader::new(deep.as_bytes());
        assert_eq!(r.skip().and_then(|_| r.end()), Ok(()));
    }
}
