//! Decoding orders from request bodies, with the Go module's rules and
//! error messages (modules/orders/order.go).

use edge::gostr;
use edge::json::Reader;

/// The length of the shipping_address column, VARCHAR(256), in characters.
pub const MAX_ADDRESS_LEN: usize = 256;

/// One row of the orders table. The integer columns are SQL INT.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Order {
    pub order_id: i32,
    pub product_id: i32,
    pub quantity: i32,
    pub amount: f64,
    pub shipping: f64,
    pub tax: f64,
    pub shipping_address: String,
}

/// The JSON names of the fields, in column order.
pub const FIELD_NAMES: [&str; 7] = ["order_id", "product_id", "quantity", "amount", "shipping", "tax", "shipping_address"];

const ALL: u32 = (1 << FIELD_NAMES.len()) - 1;

/// Reads one order object. All seven fields are required, each once;
/// unknown fields are skipped (as serde, and so the seed's demo, does).
fn decode_order(r: &mut Reader<'_>) -> Result<Order, String> {
    let mut o = Order::default();
    let mut seen = 0u32;
    let mut obj = r.object().map_err(|e| e.to_string())?;
    while let Some(key) = r.next_key(&mut obj).map_err(|e| e.to_string())? {
        let bit = match FIELD_NAMES.iter().position(|n| n.as_bytes() == &*key) {
            Some(i) => 1u32 << i,
            None => {
                r.skip().map_err(|e| e.to_string())?;
                continue;
            }
        };
        let read = match bit {
            1 => r.int32().map(|v| o.order_id = v),
            2 => r.int32().map(|v| o.product_id = v),
            4 => r.int32().map(|v| o.quantity = v),
            8 => r.float().map(|v| o.amount = v),
            16 => r.float().map(|v| o.shipping = v),
            32 => r.float().map(|v| o.tax = v),
            _ => r.string().map(|v| o.shipping_address = v),
        };
        if let Err(e) = read {
            return Err(format!("field {}: {}", gostr::quote(&key), e));
        }
        if seen & bit != 0 {
            return Err(format!("field {} given twice", gostr::quote(&key)));
        }
        seen |= bit;
    }
    if seen != ALL {
        let missing = (0..FIELD_NAMES.len()).find(|i| seen & (1 << i) == 0).unwrap_or(0);
        return Err(format!("missing field {}", gostr::quote(FIELD_NAMES[missing].as_bytes())));
    }
    let n = o.shipping_address.chars().count();
    if n > MAX_ADDRESS_LEN {
        return Err(format!("shipping_address has {} characters, more than {}", n, MAX_ADDRESS_LEN));
    }
    Ok(o)
}

/// An error about the content of a request: the service answers it with
/// 400 and this text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    fn new(msg: String) -> Invalid {
        Invalid(format!("invalid request: {}", msg))
    }
}

/// Decodes a body holding one order.
pub fn decode_one(body: &[u8]) -> Result<Order, Invalid> {
    let mut r = Reader::new(body);
    let o = decode_order(&mut r).map_err(Invalid::new)?;
    r.end().map_err(|e| Invalid::new(e.to_string()))?;
    Ok(o)
}

/// Decodes a body holding an array of orders.
pub fn decode_list(body: &[u8]) -> Result<Vec<Order>, Invalid> {
    let mut r = Reader::new(body);
    let mut list = Vec::new();
    let mut arr = r.array().map_err(|e| Invalid::new(e.to_string()))?;
    while r.next_item(&mut arr).map_err(|e| Invalid::new(e.to_string()))? {
        let o = decode_order(&mut r).map_err(|e| Invalid::new(format!("order {}: {}", list.len(), e)))?;
        list.push(o);
    }
    r.end().map_err(|e| Invalid::new(e.to_string()))?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    const O1: &str = r#"{"order_id":1,"product_id":12,"quantity":2,"amount":56.0,"shipping":15.0,"tax":2.0,"shipping_address":"Mataderos 2312"}"#;

    #[test]
    fn decodes_the_demo_order() {
        let o = decode_one(O1.as_bytes()).unwrap();
        assert_eq!(
            o,
            Order {
                order_id: 1,
                product_id: 12,
                quantity: 2,
                amount: 56.0,
                shipping: 15.0,
                tax: 2.0,
                shipping_address: "Mataderos 2312".into()
            }
        );
        assert_eq!(decode_list(format!("[{},{}]", O1, O1).as_bytes()).unwrap().len(), 2);
        assert_eq!(decode_list(b" [ ] ").unwrap(), vec![]);
    }

    // The messages Go's orders.DecodeOrder and DecodeOrders return for the
    // same bodies (its orders_test.go cases); tests/rust compares every
    // answer of the two modules end to end.
    #[test]
    fn errors_read_as_in_go() {
        let cases: &[(&str, bool, &str)] = &[
            (r#"{"order_id":1,"#, false, "invalid request: json syntax error at offset 14: want object key"),
            ("", false, "invalid request: json syntax error at offset 0: unexpected end of input"),
            ("order_id=1", false, "invalid request: json syntax error at offset 0: invalid character 'o'"),
            (&O1.replace(r#""quantity":2"#, r#""quantity":2.5"#), false,
                "invalid request: field \"quantity\": json value of wrong type at offset 41: want integer, got 2.5"),
            (&O1.replace(r#""tax":2.0"#, r#""tax":null"#), false,
                "invalid request: field \"tax\": json value of wrong type at offset 79: want number, got null"),
            (&O1.replace(r#""order_id":1"#, r#""order_id":2147483648"#), false,
                "invalid request: field \"order_id\": json value of wrong type at offset 12: integer out of 32-bit range: 2147483648"),
            (&O1.replace(r#""tax":2.0,"#, ""), false, "invalid request: missing field \"tax\""),
            (&O1.replace(r#""tax":2.0"#, r#""tax":2.0,"tax":3.0"#), false, "invalid request: field \"tax\" given twice"),
            (&format!("{} {{}}", O1), false, "invalid request: json syntax error at offset 120: data after the top-level value"),
            (&format!("[{}]", O1), false, "invalid request: json value of wrong type at offset 0: want object, got array"),
            (O1, true, "invalid request: json value of wrong type at offset 0: want array, got object"),
            (&format!(r#"[{},{{"order_id":"x"}}]"#, O1), true,
                "invalid request: order 1: field \"order_id\": json value of wrong type at offset 133: want number, got string"),
        ];
        for &(body, list, want) in cases {
            let got = if list { decode_list(body.as_bytes()).map(|_| ()) } else { decode_one(body.as_bytes()).map(|_| ()) };
            assert_eq!(got, Err(Invalid(want.to_string())), "body {}", body);
        }
        let long = O1.replace("Mataderos 2312", &"é".repeat(257));
        assert_eq!(
            decode_one(long.as_bytes()).unwrap_err().0,
            "invalid request: shipping_address has 257 characters, more than 256"
        );
        assert!(decode_one(O1.replace("Mataderos 2312", &"é".repeat(256)).as_bytes()).is_ok());
    }
}
