//! Two builds of the order service's JSON work, for measurement:
//!
//! - default: the order decoder of modules/orders-rs (the very file, by
//!   #[path]) and the SDK's JSON writer;
//! - `--features serde`: serde_derive structs read and written with
//!   serde_json.
//!
//! POST /decode decodes an array of orders and answers their count;
//! GET /encode writes the demo's five orders as GET /orders does.

use edge::{Request, Response};

#[cfg(not(feature = "serde"))]
#[path = "../../../../modules/orders-rs/src/order.rs"]
#[allow(dead_code)]
mod order;

#[cfg(feature = "serde")]
mod order {
    #[derive(serde::Deserialize, serde::Serialize)]
    pub struct Order {
        pub order_id: i32,
        pub product_id: i32,
        pub quantity: i32,
        pub amount: f64,
        pub shipping: f64,
        pub tax: f64,
        pub shipping_address: String,
    }
}

use order::Order;

fn demo() -> Vec<Order> {
    let rows: [(i32, i32, i32, f64, f64, f64, &str); 5] = [
        (1, 12, 2, 56.0, 15.0, 2.0, "Mataderos 2312"),
        (2, 15, 3, 256.0, 30.0, 16.0, "1234 NW Bobcat"),
        (3, 11, 5, 536.0, 50.0, 24.0, "20 Havelock"),
        (4, 8, 8, 126.0, 20.0, 12.0, "224 Pandan Loop"),
        (5, 24, 1, 46.0, 10.0, 2.0, "No.10 Jalan Besar"),
    ];
    rows.iter()
        .map(|&(order_id, product_id, quantity, amount, shipping, tax, a)| Order {
            order_id,
            product_id,
            quantity,
            amount,
            shipping,
            tax,
            shipping_address: a.to_string(),
        })
        .collect()
}

#[cfg(not(feature = "serde"))]
fn decode(body: &[u8]) -> Result<usize, String> {
    order::decode_list(body).map(|l| l.len()).map_err(|e| e.0)
}

#[cfg(feature = "serde")]
fn decode(body: &[u8]) -> Result<usize, String> {
    serde_json::from_slice::<Vec<Order>>(body).map(|l| l.len()).map_err(|e| e.to_string())
}

#[cfg(not(feature = "serde"))]
fn encode(list: &[Order]) -> Vec<u8> {
    let mut w = edge::json::Writer::with_capacity(4096);
    w.begin_array();
    for o in list {
        w.begin_object();
        for (k, v) in [("order_id", o.order_id), ("product_id", o.product_id), ("quantity", o.quantity)] {
            w.key(k);
            w.int(v as i64);
        }
        for (k, v) in [("amount", o.amount), ("shipping", o.shipping), ("tax", o.tax)] {
            w.key(k);
            w.float(v);
        }
        w.key("shipping_address");
        w.string(&o.shipping_address);
        w.end_object();
    }
    w.end_array();
    w.take()
}

#[cfg(feature = "serde")]
fn encode(list: &[Order]) -> Vec<u8> {
    serde_json::to_vec(list).unwrap_or_default()
}

fn probe() -> impl edge::Handler {
    let list = demo();
    move |r: &Request| match (r.method(), r.path()) {
        ("POST", "/decode") => match decode(r.body()) {
            Ok(n) => Response::text(200, n.to_string()),
            Err(e) => Response::text(400, e),
        },
        ("GET", "/encode") => Response::json(200, encode(&list)),
        _ => Response::new(404),
    }
}

edge::export_handler!(probe);
