//! The ABI test guest in Rust: the command protocol of
//! agent/wasmhost/testdata/hostcalls.wat, run through this crate's host
//! bindings, so agent/wasmhost's import tests (each import, bounds errors,
//! result_read) run against a Rust guest as well as the hand-written one.
//!
//! The request body is a list of commands; the answer is 200 with one
//! record per command: i32 rc, u32 len, len bytes of result data.
//!
//! ```text
//! op u8, cap u32, len u32, payload     1 log (cap is the level), 2 config_get,
//!                                      3 sql, 4 http_fetch, 5 result_read, each
//!                                      with a result buffer of cap bytes; a
//!                                      larger result is fetched with result_read
//! op u8, cap u32, len u32, payload     the SDK's own API (cap unused):
//!                                      6 config::get(payload), 7 a POST with
//!                                      fetch::request to the URL in payload,
//!                                      8 the db tour below (payload unused),
//!                                      9 panic with the payload as message
//! op u8, a u32, b u32, c u32, d u32    raw calls with these pointers and
//!                                      lengths: 0x11 log(a,b,c), 0x12 config_get,
//!                                      0x13 sql, 0x14 http_fetch (a,b,c,d),
//!                                      0x15 result_read(a,b)
//! ```
//!
//! Rebuild the committed module with `make rust-testdata`.

use std::fmt::Write;
use std::time::Duration;

use edge::db::Db;
use edge::host::{self, Import};
use edge::{Request, Response};

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Runs a data-returning call with a buffer of exactly `cap` bytes.
fn call(f: Option<Import>, payload: &[u8], cap: usize) -> (i32, Vec<u8>) {
    let mut buf = Vec::with_capacity(cap);
    let res = match f {
        Some(f) => host::call_raw(f, payload, &mut buf),
        None => host::read_pending(&mut buf, cap),
    };
    match res {
        Ok(()) => (buf.len() as i32, buf),
        Err(code) => (code, Vec::new()),
    }
}

/// Runs one command at `off`; returns its record and the next offset.
fn command(b: &[u8], off: usize) -> Option<((i32, Vec<u8>), usize)> {
    let op = *b.get(off)?;
    let (a, c1) = (u32_at(b, off + 1)?, u32_at(b, off + 5)?);
    if op >= 0x10 {
        let (c, d) = (u32_at(b, off + 9)?, u32_at(b, off + 13)?);
        let rc = match op {
            0x11 => {
                host::raw_log(a as i32, c1, c);
                0
            }
            0x12 => host::raw_call(Import::ConfigGet, a, c1, c, d),
            0x13 => host::raw_call(Import::Sql, a, c1, c, d),
            0x14 => host::raw_call(Import::HttpFetch, a, c1, c, d),
            0x15 => host::raw_result_read(a, c1),
            _ => return None,
        };
        return Some(((rc, Vec::new()), off + 17));
    }
    let (cap, len) = (a as usize, c1 as usize);
    let payload = b.get(off + 9..off + 9 + len)?;
    let rec = match op {
        1 => {
            host::log(cap as i32, payload);
            (0, Vec::new())
        }
        2 => call(Some(Import::ConfigGet), payload, cap),
        3 => call(Some(Import::Sql), payload, cap),
        4 => call(Some(Import::HttpFetch), payload, cap),
        5 => call(None, payload, cap),
        6 => match edge::config::get(&String::from_utf8_lossy(payload)) {
            Some(v) => (0, v.into_bytes()),
            None => (edge::abi::ERR_NOT_FOUND, Vec::new()),
        },
        7 => fetch(&String::from_utf8_lossy(payload)),
        8 => (0, db_tour().into_bytes()),
        9 => panic!("{}", String::from_utf8_lossy(payload)),
        _ => return None,
    };
    Some((rec, off + 9 + len))
}

/// A POST through the SDK: rc is the status (or -1 for an error), data the
/// X-Reply header and the body, or the error.
fn fetch(url: &str) -> (i32, Vec<u8>) {
    let res = edge::fetch::request("POST", url).header("X-Asked", "q").body(b"b").timeout(Duration::from_secs(5)).send();
    match res {
        Ok(r) => {
            let mut data = r.header("x-reply").unwrap_or(b"-").to_vec();
            data.push(b' ');
            data.extend_from_slice(&r.body);
            (r.status as i32, data)
        }
        Err(e) => (-1, format!("{:?}: {}", e.kind(), e).into_bytes()),
    }
}

/// Runs the SDK's database API through the host and reports what it saw,
/// one line per step.
fn db_tour() -> String {
    let mut db = Db::new();
    let mut out = String::new();
    let mut step = |name: &str, r: edge::Result<String>| {
        let _ = match r {
            Ok(v) => writeln!(out, "{}: {}", name, v),
            Err(e) => writeln!(out, "{}: {:?} error", name, e.kind()),
        };
    };
    step("create", db.exec("CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB, n INTEGER)", &[]).map(|r| r.rows_affected.to_string()));
    let blob: &[u8] = b"\x00\xff";
    step(
        "insert",
        db.exec("INSERT INTO t VALUES (?, ?, ?, ?, ?)", &[&-42i32, &2.5f64, &"héllo", &blob, &None::<i64>])
            .map(|r| format!("id {} rows {}", r.last_insert_id, r.rows_affected)),
    );
    step("commit", (|| {
        let mut tx = db.begin()?;
        tx.exec("INSERT INTO t (i) VALUES (?)", &[&100i64])?;
        tx.commit()?;
        Ok("done".to_string())
    })());
    step("rollback", (|| {
        let mut tx = db.begin()?;
        tx.exec("INSERT INTO t (i) VALUES (?)", &[&200i64])?;
        tx.rollback()?;
        Ok("done".to_string())
    })());
    step("dropped", (|| {
        let mut tx = db.begin()?;
        tx.exec("INSERT INTO t (i) VALUES (?)", &[&300i64])?;
        Ok("done".to_string()) // tx dropped: rolled back
    })());
    step("select", (|| {
        let mut lines = Vec::new();
        for row in db.query("SELECT i, f, s, b, n FROM t ORDER BY i", &[])? {
            let row = row?;
            let i: i64 = row.get(0)?;
            let f: Option<f64> = row.get(1)?;
            let s: Option<&str> = row.get(2)?;
            let b: Option<&[u8]> = row.get(3)?;
            let n: Option<i64> = row.get(4)?;
            lines.push(format!("{} {:?} {:?} {:?} {:?}", i, f, s, b, n));
        }
        Ok(lines.join("; "))
    })());
    step("columns", db.query("SELECT i AS first, s FROM t LIMIT 1", &[]).map(|rows| {
        rows.columns().iter().map(|c| String::from_utf8_lossy(c.name).into_owned()).collect::<Vec<_>>().join(",")
    }));
    step("conversion", (|| {
        let mut rows = db.query("SELECT s FROM t WHERE i = -42", &[])?;
        let row = rows.next().unwrap()?;
        row.get::<i64>(0).map(|v| v.to_string())
    })());
    step("bad sql", db.exec("SELEC nonsense", &[]).map(|_| String::new()));
    out
}

fn run(r: &Request) -> Response {
    let b = r.body();
    let mut out = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let ((rc, data), next) = match command(b, off) {
            Some(x) => x,
            None => return Response::text(400, format!("bad command at offset {}\n", off)),
        };
        out.extend_from_slice(&rc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        off = next;
    }
    Response::new(200).with_body(out)
}

fn guest() -> fn(&Request) -> Response {
    run
}

edge::export_handler!(guest);
