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

/// Writes the table as a JSON array straight from the result frame.
/// Columns are read as nullable: the demo's schema has no NOT NULL, and a
/// NULL is written as JSON null.
pub fn write_all_orders(db: &mut Db, w: &mut Writer) -> Result<()> {
    w.begin_array();
    for row in db.query(SQL_SELECT, &[])? {
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
    }
    w.end_array();
    Ok(())
}
