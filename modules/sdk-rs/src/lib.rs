//! The guest SDK for edge modules written in Rust.
//!
//! An edge module is a WebAssembly reactor the edge agent runs: the agent
//! owns the sockets, the database drivers and the outbound HTTP client,
//! and hands the module one HTTP request at a time. This crate speaks the
//! host ABI (docs/ABI.md; the Go package `modules/abi` is its source of
//! truth) and gives the module types that read like ordinary Rust HTTP
//! code:
//!
//! ```no_run
//! use edge::{db::Db, Request, Response, Router};
//!
//! struct App { db: Db }
//!
//! fn count(app: &mut App, _: &Request) -> Result<Response, Response> {
//!     let rows = app.db.query("SELECT COUNT(*) FROM orders", &[]).map_err(|e| Response::text(503, e.to_string()))?;
//!     let mut n = 0i64;
//!     for row in rows {
//!         n = row.and_then(|r| r.get(0)).map_err(|e| Response::text(500, e.to_string()))?;
//!     }
//!     Ok(Response::json(200, format!("{{\"count\":{}}}", n)))
//! }
//!
//! fn app() -> Router<App> {
//!     Router::new(App { db: Db::new() }).get("/count", count)
//! }
//!
//! edge::export_handler!(app);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasi` (Debian's Rust 1.63 calls the
//! target `wasm32-wasi`; newer toolchains also name it `wasm32-wasip1`),
//! with `panic = "abort"`: a Wasm guest cannot unwind, so a panic traps,
//! the agent answers 500 and replaces the instance. Return errors instead.
//!
//! What is here:
//! - [`Request`], [`Response`], [`Router`], [`Handler`] and
//!   [`export_handler!`]: the HTTP side (the `edge_alloc` and
//!   `edge_handle` exports);
//! - [`db`]: SQL with bound arguments, transactions, typed rows;
//! - [`fetch`]: outbound HTTP to the hosts the agent allows;
//! - [`kv`]: the module's key-value store (compare-and-set, list by prefix);
//! - [`call`]: calls to another module on the device;
//! - [`msg`]: MQTT publish in the module's namespace, and message and
//!   timer handlers ([`msg::Triggers`], [`export_triggers!`]);
//! - [`config`] and [`log`]: settings and logging through the host;
//! - [`json`]: a JSON reader and writer without dependencies, which read and
//!   write exactly as the Go SDK's do;
//! - [`abi`]: the frames and codes themselves, for those who need them;
//! - [`gostr`]: Go's quoting and UTF-8 rules, for byte-identical answers.
//!
//! The crate has no dependencies: see RATIONALE.md ("Modules in Rust") for
//! the measurements behind that.

pub mod abi;
pub mod call;
pub mod config;
pub mod db;
mod error;
pub mod fetch;
pub mod gostr;
pub mod host;
mod http;
mod isprint;
pub mod json;
pub mod kv;
pub mod log;
pub mod msg;
mod router;
pub mod server;
pub mod url;

pub use error::{Error, ErrorKind, Result};
pub use http::{canonical_header_key, Handler, IntoResponse, Request, Response};
pub use router::Router;
