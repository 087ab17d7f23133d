//! Text the way Go's standard library handles it, so that a Rust module
//! can answer byte for byte like a Go one: UTF-8 decoding with Go's
//! one-byte error rule (`unicode/utf8.DecodeRune`), and `strconv.Quote` /
//! `strconv.QuoteRune` (which `fmt`'s `%q` uses) with Go's table of
//! printable characters.
//!
//! Rust's `String::from_utf8_lossy` replaces a maximal invalid subpart with
//! one U+FFFD; Go replaces every invalid byte. The two differ on truncated
//! sequences ("\xE2\x82" is one U+FFFD in Rust, two in Go), which would
//! show in a JSON error message or an escaped string.

use crate::isprint::{PRINT16, PRINT32};

/// U+FFFD, what an invalid byte decodes to.
pub const RUNE_ERROR: u32 = 0xFFFD;

/// Decodes the first UTF-8 sequence of `b` as Go's `utf8.DecodeRune` does:
/// `(RUNE_ERROR, 1)` for an invalid or truncated sequence (overlong forms
/// and surrogates included), `(RUNE_ERROR, 0)` for an empty input.
pub fn decode_rune(b: &[u8]) -> (u32, usize) {
    let n = b.len();
    if n == 0 {
        return (RUNE_ERROR, 0);
    }
    let c0 = b[0];
    if c0 < 0x80 {
        return (c0 as u32, 1);
    }
    // Second-byte range and length by first byte (Go's first/acceptRanges).
    let (len, lo, hi) = match c0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return (RUNE_ERROR, 1),
    };
    if n < len {
        return (RUNE_ERROR, 1);
    }
    let c1 = b[1];
    if c1 < lo || c1 > hi {
        return (RUNE_ERROR, 1);
    }
    if len == 2 {
        return (((c0 as u32 & 0x1F) << 6) | (c1 as u32 & 0x3F), 2);
    }
    let c2 = b[2];
    if !(0x80..=0xBF).contains(&c2) {
        return (RUNE_ERROR, 1);
    }
    if len == 3 {
        return (((c0 as u32 & 0x0F) << 12) | ((c1 as u32 & 0x3F) << 6) | (c2 as u32 & 0x3F), 3);
    }
    let c3 = b[3];
    if !(0x80..=0xBF).contains(&c3) {
        return (RUNE_ERROR, 1);
    }
    let r = ((c0 as u32 & 0x07) << 18) | ((c1 as u32 & 0x3F) << 12) | ((c2 as u32 & 0x3F) << 6) | (c3 as u32 & 0x3F);
    (r, 4)
}

/// Appends the UTF-8 encoding of `r` (U+FFFD for a surrogate or a value
/// past U+10FFFF, as Go's `utf8.AppendRune`).
pub fn push_rune(out: &mut Vec<u8>, r: u32) {
    let c = char::from_u32(r).unwrap_or('\u{FFFD}');
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// Counts the runes of `b` as Go's `utf8.RuneCount` does: every invalid
/// byte counts as one.
pub fn rune_count(b: &[u8]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] < 0x80 {
            i += 1;
        } else {
            i += decode_rune(&b[i..]).1;
        }
        n += 1;
    }
    n
}

/// Reports whether Go's `strconv.IsPrint` holds for `r`: letters, marks,
/// numbers, punctuation, symbols and the ASCII space.
pub fn is_print(r: u32) -> bool {
    if r < 0x10000 {
        in_ranges16(PRINT16, r as u16)
    } else {
        in_ranges32(PRINT32, r)
    }
}

fn in_ranges16(t: &[(u16, u16)], r: u16) -> bool {
    // Binary search for the last range starting at or before r.
    let i = t.partition_point(|&(lo, _)| lo <= r);
    i > 0 && r <= t[i - 1].1
}

fn in_ranges32(t: &[(u32, u32)], r: u32) -> bool {
    let i = t.partition_point(|&(lo, _)| lo <= r);
    i > 0 && r <= t[i - 1].1
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, r: u32, digits: u32) {
    for k in (0..digits).rev() {
        out.push(LOWER_HEX[((r >> (4 * k)) & 0xF) as usize]);
    }
}

/// Go's appendEscapedRune (not ASCII-only, not graphic-only).
fn push_escaped_rune(out: &mut Vec<u8>, r: u32, quote: u8) {
    if r == quote as u32 || r == b'\\' as u32 {
        out.push(b'\\');
        out.push(r as u8);
        return;
    }
    if is_print(r) {
        push_rune(out, r);
        return;
    }
    let esc: &[u8] = match r {
        0x07 => b"\\a",
        0x08 => b"\\b",
        0x0C => b"\\f",
        0x0A => b"\\n",
        0x0D => b"\\r",
        0x09 => b"\\t",
        0x0B => b"\\v",
        _ => b"",
    };
    if !esc.is_empty() {
        out.extend_from_slice(esc);
        return;
    }
    if r < 0x20 || r == 0x7F {
        out.extend_from_slice(b"\\x");
        push_hex(out, r, 2);
        return;
    }
    let r = if char::from_u32(r).is_none() { RUNE_ERROR } else { r };
    if r < 0x10000 {
        out.extend_from_slice(b"\\u");
        push_hex(out, r, 4);
    } else {
        out.extend_from_slice(b"\\U");
        push_hex(out, r, 8);
    }
}

/// Appends `s` as Go's `strconv.Quote` writes it: a double-quoted Go
/// string literal, with non-printable characters escaped and every
/// invalid UTF-8 byte written as `\xHH`.
pub fn push_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        let (r, width) = if s[i] < 0x80 { (s[i] as u32, 1) } else { decode_rune(&s[i..]) };
        if width == 1 && r == RUNE_ERROR {
            out.extend_from_slice(b"\\x");
            push_hex(out, s[i] as u32, 2);
        } else {
            push_escaped_rune(out, r, b'"');
        }
        i += width;
    }
    out.push(b'"');
}

/// Returns `s` quoted as Go's `strconv.Quote` does. The result is valid
/// UTF-8 whatever `s` holds: invalid bytes are escaped.
pub fn quote(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

/// Returns the character `r` as Go's `strconv.QuoteRune` (and `%q` of an
/// integer) writes it: `'a'`, `'\n'`, `'\u00a0'`.
pub fn quote_rune(r: u32) -> String {
    let r = if char::from_u32(r).is_none() { RUNE_ERROR } else { r };
    let mut out = Vec::with_capacity(8);
    out.push(b'\'');
    push_escaped_rune(&mut out, r, b'\'');
    out.push(b'\'');
    String::from_utf8(out).unwrap_or_default()
}

/// Formats `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the
/// shortest digits that read back as `v`, in exponent form when the
/// exponent is below -4 or at least 6 ("1e+06", "2.5e-05").
pub fn format_float_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let e = format!("{:e}", v); // shortest digits: "-1.5e-7", "1e6"
    let (mantissa, exp) = match e.split_once('e') {
        Some((m, x)) => (m, x.parse::<i32>().unwrap_or(0)),
        None => (e.as_str(), 0),
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{}{:02}", mantissa, sign, exp.abs());
    }
    format!("{}", v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rune_like_go() {
        let cases: &[(&[u8], u32, usize)] = &[
            (b"", RUNE_ERROR, 0),
            (b"a", 'a' as u32, 1),
            ("é".as_bytes(), 0xE9, 2),
            ("€".as_bytes(), 0x20AC, 3),
            ("😀".as_bytes(), 0x1F600, 4),
            (b"\xE2\x82", RUNE_ERROR, 1),      // truncated
            (b"\xC0\x80", RUNE_ERROR, 1),      // overlong
            (b"\xED\xA0\x80", RUNE_ERROR, 1),  // surrogate
            (b"\xF4\x90\x80\x80", RUNE_ERROR, 1), // past U+10FFFF
            (b"\xFF", RUNE_ERROR, 1),
            (b"\x80", RUNE_ERROR, 1),
        ];
        for &(input, r, n) in cases {
            assert_eq!(decode_rune(input), (r, n), "decode_rune({:?})", input);
        }
        assert_eq!(rune_count(b"a\xE2\x82b"), 4);
        assert_eq!(rune_count("é€".as_bytes()), 2);
    }

    #[test]
    fn quote_like_go() {
        // Expected values from Go: fmt.Println(strconv.Quote(s)).
        let cases: &[(&[u8], &str)] = &[
            (b"abc", r#""abc""#),
            (b"", r#""""#),
            (b"a\"b\\c'", r#""a\"b\\c'""#),
            (b"\x07\x08\x0c\n\r\t\x0b\x00\x7f", r#""\a\b\f\n\r\t\v\x00\x7f""#),
            ("é ü".as_bytes(), "\"é ü\""),
            ("\u{a0}\u{ad}\u{200b}".as_bytes(), r#""\u00a0\u00ad\u200b""#),
            ("\u{e000}\u{10ffff}".as_bytes(), r#""\ue000\U0010ffff""#),
            (b"\xff\xE2\x82z", r#""\xff\xe2\x82z""#),
            ("😀".as_bytes(), "\"😀\""),
        ];
        for &(input, want) in cases {
            assert_eq!(quote(input), want, "quote({:?})", input);
        }
        assert_eq!(quote_rune('x' as u32), "'x'");
        assert_eq!(quote_rune('\'' as u32), r"'\''");
        assert_eq!(quote_rune('"' as u32), "'\"'");
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(quote_rune(0x80), r"'\u0080'");
        assert_eq!(quote_rune(0xFF), "'ÿ'");
        assert_eq!(quote_rune(0xD800), "'�'");
    }

    #[test]
    fn format_g_like_go() {
        // Expected values from Go: strconv.FormatFloat(v, 'g', -1, 64).
        let cases: &[(f64, &str)] = &[
            (56.0, "56"),
            (2.5, "2.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-10, "-2.5e-10"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for &(v, want) in cases {
            assert_eq!(format_float_g(v), want, "{:?}", v);
        }
    }
}
