//! JSON without reflection or dependencies: a pull [`Reader`] and an
//! appending [`Writer`].
//!
//! They port the Go SDK's `sdk/jsond` and `sdk/jsonw` so that a Rust module
//! and a Go module read and write the same bytes: the same numbers
//! accepted, the same error messages at the same offsets, floats written
//! as serde_json writes them (`56.0`), strings escaped as Go escapes them.
//! RATIONALE.md ("Modules in Rust") gives the measurements behind writing
//! them rather than using serde_json.
//!
//! ```
//! use edge::json::{Reader, Writer};
//!
//! let mut r = Reader::new(br#"{"id": 7, "name": "x"}"#);
//! let mut obj = r.object().unwrap();
//! let mut id = 0;
//! while let Some(key) = r.next_key(&mut obj).unwrap() {
//!     match &*key {
//!         b"id" => id = r.int().unwrap(),
//!         _ => r.skip().unwrap(),
//!     }
//! }
//! r.end().unwrap();
//!
//! let mut w = Writer::new();
//! w.begin_object();
//! w.key("id");
//! w.int(id);
//! w.key("amount");
//! w.float(56.0);
//! w.end_object();
//! assert_eq!(w.as_bytes(), br#"{"id":7,"amount":56.0}"#);
//! ```

mod reader;
mod writer;

pub use reader::{valid, Array, Error, ErrorKind, Kind, Object, Reader, Result, MAX_DEPTH};
pub use writer::{push_float, push_int, push_string, Writer};
