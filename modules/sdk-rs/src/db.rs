//! SQL through the host: the database is whatever binding the agent chose
//! for the module (a SQLite file, a MySQL/MariaDB server); the module never
//! sees a DSN or a password.
//!
//! ```no_run
//! use edge::db::Db;
//!
//! let mut db = Db::new();
//! db.exec("INSERT INTO t (id, name) VALUES (?, ?)", &[&7i32, &"seven"])?;
//! let mut tx = db.begin()?;
//! tx.exec("DELETE FROM t WHERE id = ?", &[&7i32])?;
//! tx.commit()?;
//! for row in db.query("SELECT id, name FROM t ORDER BY id", &[])? {
//!     let row = row?;
//!     let id: i64 = row.get(0)?;
//!     let name: Option<&str> = row.get(1)?;
//! }
//! # Ok::<(), edge::Error>(())
//! ```
//!
//! Rows are read in place from the host's result frame: text and blobs
//! borrow it. Column values convert to the type asked for as Go's
//! database/sql converts them (the Go SDK's rules), so a Rust and a Go
//! module read the same row the same way; a NULL converts only to an
//! Option.

use std::borrow::Cow;

use crate::abi::{self, Column, QueryReader, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::gostr;
use crate::host::{self, Import};

const OP: &str = abi::FN_SQL;

/// A handle on the module's database binding, with reusable frame
/// buffers. Keep one in the handler's state.
#[derive(Debug, Default)]
pub struct Db {
    req: Vec<u8>,
    res: Vec<u8>,
}

/// What an exec reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecResult {
    pub last_insert_id: i64,
    pub rows_affected: i64,
}

impl Db {
    pub fn new() -> Db {
        Db::default()
    }

    /// Sends one request and leaves its result frame in `self.res`.
    fn round_trip(&mut self, op: u8, tx: u32, sql: &str, args: &[&dyn ToSql]) -> Result<()> {
        self.req.clear();
        self.req.push(op);
        abi::put_u32(&mut self.req, tx);
        abi::put_bytes(&mut self.req, sql.as_bytes());
        if args.len() > u16::MAX as usize {
            return Err(Error::new(ErrorKind::BadRequest, OP, format!("{} arguments, more than {}", args.len(), u16::MAX)));
        }
        abi::put_u16(&mut self.req, args.len() as u16);
        for a in args {
            abi::put_value(&mut self.req, &a.to_sql());
        }
        host::call(Import::Sql, &self.req, &mut self.res)
    }

    fn exec_in(&mut self, tx: u32, sql: &str, args: &[&dyn ToSql]) -> Result<ExecResult> {
        self.round_trip(abi::OP_EXEC, tx, sql, args)?;
        match abi::decode_exec_result(&self.res) {
            Err(e) => Err(Error::frame(OP, e)),
            Ok(Err(e)) => Err(Error::host(OP, e)),
            Ok(Ok((last_insert_id, rows_affected))) => Ok(ExecResult { last_insert_id, rows_affected }),
        }
    }

    fn query_in(&mut self, tx: u32, sql: &str, args: &[&dyn ToSql]) -> Result<Rows<'_>> {
        self.round_trip(abi::OP_QUERY, tx, sql, args)?;
        match QueryReader::new(&self.res) {
            Err(e) => Err(Error::frame(OP, e)),
            Ok(Err(e)) => Err(Error::host(OP, e)),
            Ok(Ok(reader)) => Ok(Rows { reader, done: false }),
        }
    }

    fn end_tx(&mut self, op: u8, tx: u32) -> Result<()> {
        self.round_trip(op, tx, "", &[])?;
        match abi::decode_end_result(&self.res) {
            Err(e) => Err(Error::frame(OP, e)),
            Ok(Err(e)) => Err(Error::host(OP, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Runs a statement that returns no rows.
    pub fn exec(&mut self, sql: &str, args: &[&dyn ToSql]) -> Result<ExecResult> {
        self.exec_in(0, sql, args)
    }

    /// Runs a query; iterate the rows it returns.
    pub fn query(&mut self, sql: &str, args: &[&dyn ToSql]) -> Result<Rows<'_>> {
        self.query_in(0, sql, args)
    }

    /// Opens a transaction. It is rolled back when dropped uncommitted,
    /// and by the host if the request ends with it open.
    pub fn begin(&mut self) -> Result<Tx<'_>> {
        self.round_trip(abi::OP_BEGIN, 0, "", &[])?;
        let id = match abi::decode_begin_result(&self.res) {
            Err(e) => return Err(Error::frame(OP, e)),
            Ok(Err(e)) => return Err(Error::host(OP, e)),
            Ok(Ok(id)) => id,
        };
        if id == 0 {
            return Err(Error::new(ErrorKind::HostCall, OP, "begin: host returned transaction id 0"));
        }
        Ok(Tx { db: self, id, done: false })
    }
}

/// An open transaction.
#[derive(Debug)]
pub struct Tx<'a> {
    db: &'a mut Db,
    id: u32,
    done: bool,
}

impl Tx<'_> {
    pub fn exec(&mut self, sql: &str, args: &[&dyn ToSql]) -> Result<ExecResult> {
        self.db.exec_in(self.id, sql, args)
    }

    pub fn query(&mut self, sql: &str, args: &[&dyn ToSql]) -> Result<Rows<'_>> {
        self.db.query_in(self.id, sql, args)
    }

    /// Commits. The transaction is over whatever the host answers: a host
    /// that failed to commit has rolled back or lost it.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.db.end_tx(abi::OP_COMMIT, self.id)
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.db.end_tx(abi::OP_ROLLBACK, self.id)
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.db.end_tx(abi::OP_ROLLBACK, self.id);
        }
    }
}

/// The rows of a query, read in place from the result frame.
pub struct Rows<'a> {
    reader: QueryReader<'a>,
    done: bool,
}

impl<'a> Rows<'a> {
    pub fn columns(&self) -> &[Column<'a>] {
        self.reader.columns()
    }

    /// The rows not read yet.
    pub fn remaining(&self) -> usize {
        self.reader.rows_left()
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<Row<'a>>;

    fn next(&mut self) -> Option<Result<Row<'a>>> {
        if self.done {
            return None;
        }
        let mut values = Vec::with_capacity(self.reader.columns().len());
        match self.reader.next_row(&mut values) {
            Ok(true) => Some(Ok(Row { values })),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(Error::frame(OP, e)))
            }
        }
    }
}

/// One row; `get` converts a column to the type asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Row<'a> {
    values: Vec<Value<'a>>,
}

impl<'a> Row<'a> {
    /// Column `i` (from 0) as a T.
    pub fn get<T: FromSql<'a>>(&self, i: usize) -> Result<T> {
        let v = match self.values.get(i) {
            Some(v) => *v,
            None => return Err(conversion(format!("column {} of a row of {}", i, self.values.len()))),
        };
        T::from_sql(v).map_err(|msg| conversion(format!("column {}: {}", i, msg)))
    }

    /// The raw values.
    pub fn values(&self) -> &[Value<'a>] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

fn conversion(msg: String) -> Error {
    Error::new(ErrorKind::Conversion, OP, msg)
}

/// A value that can be a query argument.
pub trait ToSql {
    fn to_sql(&self) -> Value<'_>;
}

macro_rules! to_sql_int {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}

to_sql_int!(i8, i16, i32, i64, u8, u16, u32);

impl ToSql for bool {
    fn to_sql(&self) -> Value<'_> {
        Value::Int(*self as i64)
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> Value<'_> {
        Value::Float(*self)
    }
}

impl ToSql for f32 {
    fn to_sql(&self) -> Value<'_> {
        Value::Float(*self as f64)
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Value<'_> {
        Value::Text(self.as_bytes())
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Value<'_> {
        Value::Text(self.as_bytes())
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Value<'_> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_sql(),
            None => Value::Null,
        }
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> Value<'_> {
        *self
    }
}

/// A type a column value converts to. The conversions are those of Go's
/// database/sql: numbers parse from text, an integer reads as a float, a
/// float reads as an integer only if the text Go writes for it is one
/// (integral and under 1e6 in magnitude), numbers read as text in Go's
/// formatting. Text is taken as bytes; String and &str need valid UTF-8.
pub trait FromSql<'a>: Sized {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String>;
}

fn null_to(t: &str) -> String {
    format!("converting NULL to {} is unsupported", t)
}

fn kind_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
    }
}

impl<'a> FromSql<'a> for Value<'a> {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        Ok(v)
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl<'a> FromSql<'a> for i64 {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Int(n) => Ok(n),
            // database/sql formats the float with 'g' and parses that.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e6 => Ok(f as i64),
            Value::Text(t) | Value::Blob(t) => parse_int(t),
            Value::Null => Err(null_to("i64")),
            v => Err(format!("cannot convert {} {} to i64", kind_name(&v), text_of(&v))),
        }
    }
}

impl<'a> FromSql<'a> for i32 {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        let n = match v {
            Value::Null => return Err(null_to("i32")),
            v => i64::from_sql(v)?,
        };
        i32::try_from(n).map_err(|_| format!("value {} out of range for i32", n))
    }
}

impl<'a> FromSql<'a> for bool {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            Value::Text(t) | Value::Blob(t) => match t {
                b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Ok(true),
                b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Ok(false),
                _ => Err(format!("cannot convert {} to bool", gostr::quote(t))),
            },
            Value::Null => Err(null_to("bool")),
            v => Err(format!("cannot convert {} {} to bool", kind_name(&v), text_of(&v))),
        }
    }
}

impl<'a> FromSql<'a> for f64 {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Float(f) => Ok(f),
            Value::Int(n) => Ok(n as f64),
            Value::Text(t) | Value::Blob(t) => parse_float(t),
            Value::Null => Err(null_to("f64")),
        }
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Text(t) | Value::Blob(t) => Ok(t),
            Value::Null => Err(null_to("&[u8]")),
            v => Err(format!("cannot borrow {} as bytes: read it as Cow<[u8]>", kind_name(&v))),
        }
    }
}

impl<'a> FromSql<'a> for Cow<'a, [u8]> {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        match v {
            Value::Text(t) | Value::Blob(t) => Ok(Cow::Borrowed(t)),
            Value::Null => Err(null_to("bytes")),
            v => Ok(Cow::Owned(text_of(&v).into_bytes())),
        }
    }
}

impl<'a> FromSql<'a> for Vec<u8> {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        Cow::<[u8]>::from_sql(v).map(Cow::into_owned)
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        let b = <&[u8]>::from_sql(v)?;
        std::str::from_utf8(b).map_err(|_| format!("text {} is not UTF-8", gostr::quote(b)))
    }
}

impl<'a> FromSql<'a> for String {
    fn from_sql(v: Value<'a>) -> std::result::Result<Self, String> {
        let b = Cow::<[u8]>::from_sql(v)?;
        String::from_utf8(b.into_owned()).map_err(|e| format!("text {} is not UTF-8", gostr::quote(e.as_bytes())))
    }
}

/// A number as Go's database/sql turns it into text.
fn text_of(v: &Value<'_>) -> String {
    match *v {
        Value::Int(n) => n.to_string(),
        Value::Float(f) => gostr::format_float_g(f),
        Value::Text(t) | Value::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        Value::Null => "NULL".to_string(),
    }
}

/// strconv.ParseInt(s, 10, 64): an optional sign and decimal digits.
fn parse_int(t: &[u8]) -> std::result::Result<i64, String> {
    std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("cannot convert text {} to i64", gostr::quote(t)))
}

/// strconv.ParseFloat(s, 64) for decimal forms and inf/nan; a finite
/// number too large for f64 is an error.
fn parse_float(t: &[u8]) -> std::result::Result<f64, String> {
    let err = || format!("cannot convert text {} to f64", gostr::quote(t));
    let s = std::str::from_utf8(t).map_err(|_| err())?;
    let f = s.parse::<f64>().map_err(|_| err())?;
    let named = s.trim_start_matches(|c| c == '+' || c == '-').to_ascii_lowercase();
    if f.is_infinite() && named != "inf" && named != "infinity" {
        return Err(err());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: Vec<Value<'static>>) -> Row<'static> {
        Row { values }
    }

    #[test]
    fn conversions_like_database_sql() {
        let r = row(vec![
            Value::Int(56),
            Value::Float(56.0),
            Value::Float(2.5),
            Value::Text(b"12"),
            Value::Text(b"abc"),
            Value::Null,
            Value::Float(1e6),
            Value::Int(1 << 40),
            Value::Text(b"\xff"),
        ]);
        assert_eq!(r.get::<i64>(0), Ok(56));
        assert_eq!(r.get::<f64>(0), Ok(56.0));
        assert_eq!(r.get::<i64>(1), Ok(56));
        assert!(r.get::<i64>(2).is_err());
        assert_eq!(r.get::<i64>(3), Ok(12));
        assert_eq!(r.get::<f64>(3), Ok(12.0));
        assert!(r.get::<i64>(4).is_err());
        assert_eq!(r.get::<Option<i64>>(5), Ok(None));
        assert!(r.get::<i64>(5).is_err());
        assert!(r.get::<i64>(6).is_err(), "Go formats 1e6 as 1e+06, which ParseInt refuses");
        assert!(r.get::<i32>(7).is_err());
        assert_eq!(r.get::<String>(1).as_deref(), Ok("56"));
        assert_eq!(r.get::<String>(2).as_deref(), Ok("2.5"));
        assert_eq!(r.get::<String>(6).as_deref(), Ok("1e+06"));
        assert_eq!(r.get::<&[u8]>(8), Ok(&b"\xff"[..]));
        assert!(r.get::<&str>(8).is_err());
        assert!(r.get::<i64>(9).is_err(), "no column 9");
        assert_eq!(r.get::<Option<Cow<[u8]>>>(0), Ok(Some(Cow::Owned(b"56".to_vec()))));
    }

    #[test]
    fn args() {
        let s = String::from("x");
        let args: [&dyn ToSql; 6] = [&1i32, &2.5f64, &"t", &s, &None::<i64>, &&b"\x00"[..]];
        let got: Vec<Value> = args.iter().map(|a| a.to_sql()).collect();
        assert_eq!(
            got,
            vec![Value::Int(1), Value::Float(2.5), Value::Text(b"t"), Value::Text(b"x"), Value::Null, Value::Blob(b"\x00")]
        );
    }
}
