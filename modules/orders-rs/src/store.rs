//! The SQL of the service, common to SQLite and MySQL/MariaDB, and the
//! same statements in the same order as the Go module sends them
//! (modules/orders/store.go), so the two use the host's per-request SQL
//! call budget alike.

use edge::db::{Db, ToSql};
use edge::json::Writer;
use edge::Result;

use crate::order::{Order, FIELD_NAMES};

const SQL_DROP: &str = "DROP TABLE IF EXISTS orders";
const SQL_CREATE: &str = "CREATE TABLE orders (order_id INT, product_id INT, quantity INT, \
    amount DOUBLE, shipping DOUBLE, tax DOUBLE, shipping_address VARCHAR(256))";
const SQL_INSERT: &str = "INSERT INTO orders (order_id, product_id, quantity, amount, shipping, tax, shipping_address) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";
const SQL_SELECT: &str = "SELECT order_id, product_id, quantity, amount, shipping, tax, shipping_address \
    FROM orders ORDER BY order_id";
/// One page of keyset paging: LIMIT asks for one row more than the page
/// holds, to learn whether a next page exists.
const SQL_PAGE: &str = "SELECT order_id, product_id, quantity, amount, shipping, tax, shipping_address \
    FROM orders WHERE order_id > ? ORDER BY order_id LIMIT ?";
const SQL_COUNT: &str = "SELECT COUNT(*) FROM orders";
const SQL_UPDATE: &str = "UPDATE orders SET product_id = ?, quantity = ?, amount = ?, shipping = ?, tax = ?, \
    shipping_address = ? WHERE order_id = ?";
const SQL_DELETE: &str = "DELETE FROM orders WHERE order_id = ?";

/// Drops and recreates the table: two statements, not a transaction
/// (MySQL commits DDL implicitly anyway).
pub fn reset_table(db: &mut Db) -> Result<()> {
    db.exec(SQL_DROP, &[])?;
    db.exec(SQL_CREATE, &[])?;
    Ok(())
}

/// Batch sizes of `insert_orders`, as in the Go module: a multi-row INSERT
/// of up to 256 orders (1,792 placeholders, far under SQLite's 32,766 and
/// MySQL's 65,535), the rest by 16 and by 1. Few fixed sizes keep the
/// statements the databases prepare to three, and the SQL calls per
/// request far under the host's limit of 1,000: the ~8,400 orders that fit
/// in a 1 MiB body take at most 64 (32 batches of 256, 30 smaller ones,
/// begin and commit), where one statement per order ran into the limit at
/// 999 orders.
pub const BATCH_SIZES: [usize; 3] = [256, 16, 1];

/// The INSERTs of each batch size, built once per instance.
pub struct Inserts([String; 3]);

impl Inserts {
    pub fn new() -> Inserts {
        Inserts(BATCH_SIZES.map(|n| {
            let mut q = String::with_capacity(SQL_INSERT.len() + 23 * n);
            q.push_str(SQL_INSERT);
            for _ in 1..n {
                q.push_str(", (?, ?, ?, ?, ?, ?, ?)");
            }
            q
        }))
    }
}

impl Default for Inserts {
    fn default() -> Inserts {
        Inserts::new()
    }
}

/// Inserts `list` in one transaction: all or none. A failure drops the
/// transaction, which rolls it back. The statements are those the Go module
/// sends, in the same order (the largest batch that fits, then smaller).
pub fn insert_orders(db: &mut Db, inserts: &Inserts, list: &[Order]) -> Result<()> {
    let mut tx = db.begin()?;
    let mut args: Vec<&dyn ToSql> = Vec::with_capacity(7 * list.len().min(BATCH_SIZES[0]));
    let mut done = 0;
    while done < list.len() {
        let left = list.len() - done;
        let b = BATCH_SIZES.iter().position(|&n| n <= left).unwrap_or(BATCH_SIZES.len() - 1);
        let n = BATCH_SIZES[b];
        args.clear();
        for o in &list[done..done + n] {
            args.extend_from_slice(&[&o.order_id, &o.product_id, &o.quantity, &o.amount, &o.shipping, &o.tax, &o.shipping_address]);
        }
        tx.exec(&inserts.0[b], &args)?;
        done += n;
    }
    tx.commit()
}

pub fn update_order(db: &mut Db, o: &Order) -> Result<()> {
    db.exec(SQL_UPDATE, &[&o.product_id, &o.quantity, &o.amount, &o.shipping, &o.tax, &o.shipping_address, &o.order_id])?;
    Ok(())
}

pub fn delete_order(db: &mut Db, id: i32) -> Result<()> {
    db.exec(SQL_DELETE, &[&id])?;
    Ok(())
}

/// What `write_orders` wrote: how many orders, the order_id of the last
/// one, and whether the query had more rows than it was to write.
#[derive(Debug, Default)]
pub struct Page {
    pub n: usize,
    pub last: i64,
    pub more: bool,
}

/// Writes the table as a JSON array, by order_id.
pub fn write_all_orders(db: &mut Db, w: &mut Writer) -> Result<()> {
    write_orders(db, w, 0, SQL_SELECT, &[]).map(|_| ())
}

/// Writes at most `limit` orders with order_id > `after`, by order_id
/// (keyset paging).
pub fn write_page(db: &mut Db, w: &mut Writer, limit: usize, after: i64) -> Result<Page> {
    let ask = limit as i64 + 1;
    write_orders(db, w, limit, SQL_PAGE, &[&after, &ask])
}

/// The number of orders, by one COUNT(*).
pub fn count_orders(db: &mut Db) -> Result<i64> {
    let mut n = 0;
    for row in db.query(SQL_COUNT, &[])? {
        n = row?.get::<i64>(0)?;
    }
    Ok(n)
}

/// Writes the rows of `sql` (the seven columns) as a JSON array straight
/// from the result frame, at most `max` of them (0: all). Columns are read
/// as nullable: the demo's schema has no NOT NULL, and a NULL is written
/// as JSON null.
fn write_orders(db: &mut Db, w: &mut Writer, max: usize, sql: &str, args: &[&dyn ToSql]) -> Result<Page> {
    let mut p = Page::default();
    w.begin_array();
    for row in db.query(sql, args)? {
        if max > 0 && p.n == max {
            p.more = true;
            break;
        }
        let row = row?;
        w.begin_object();
        for (i, name) in FIELD_NAMES.iter().enumerate().take(3) {
            w.key(name);
            match row.get::<Option<i64>>(i)? {
                Some(v) => w.int(v),
                None => w.null(),
            }
        }
        for (i, name) in FIELD_NAMES.iter().enumerate().skip(3).take(3) {
            w.key(name);
            match row.get::<Option<f64>>(i)? {
                Some(v) => w.float(v),
                None => w.null(),
            }
        }
        w.key(FIELD_NAMES[6]);
        match row.get::<Option<std::borrow::Cow<[u8]>>>(6)? {
            Some(v) => w.string_bytes(&v),
            None => w.null(),
        }
        w.end_object();
        p.n += 1;
        p.last = row.get::<Option<i64>>(0)?.unwrap_or(0);
    }
    w.end_array();
    Ok(p)
}
