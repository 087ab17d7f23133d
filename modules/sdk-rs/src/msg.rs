//! Messaging and timers (version 2), as the Go SDK's `Publish`,
//! `HandleMessage` and `HandleTimer`. The module's signed manifest grants
//! them and the host enforces the grant:
//!
//! ```text
//! messaging.publish    topics under the module's namespace it may publish to
//! messaging.subscribe  filters whose messages reach Triggers::message's handlers
//! timers               named intervals that call Triggers::timer's handlers
//! ```
//!
//! Handlers run like HTTP handlers: one at a time per instance, under the
//! same deadline, with every host import (SQL, kv, publish, ...).
//!
//! ```no_run
//! use edge::msg::{self, Failure, Message, QoS, Tick, Triggers};
//!
//! struct State { seen: u64 }
//!
//! fn reading(s: &mut State, m: &Message) -> Result<(), Failure> {
//!     if m.payload.is_empty() {
//!         return Err(Failure::Drop("empty reading".into())); // a dead letter, never retried
//!     }
//!     s.seen += 1;
//!     msg::publish("alerts/last", &m.payload, QoS::AtLeastOnce)?; // an edge::Error: retried
//!     Ok(())
//! }
//!
//! fn heartbeat(s: &mut State, t: &Tick) -> Result<(), Failure> {
//!     msg::publish("heartbeat", format!("{} {}", s.seen, t.missed).as_bytes(), QoS::AtMostOnce)?;
//!     Ok(())
//! }
//!
//! fn triggers() -> Triggers<State> {
//!     Triggers::new(State { seen: 0 })
//!         .message("edge/v1/dev/{device}/in/readings/#", reading)
//!         .timer("heartbeat", heartbeat)
//! }
//!
//! edge::export_triggers!(triggers);
//! # fn app() -> impl edge::Handler { |_: &edge::Request| edge::Response::text(200, "ok") }
//! # edge::export_handler!(app);
//! ```
//!
//! Delivery is at least once: a handler's `Err(Failure::Retry(..))` (and
//! a trap, a panic, a timeout) makes the host deliver the message again
//! later, with the same `id` and the next `attempt`, at most 5 deliveries
//! in all; `Err(Failure::Drop(..))` makes it a dead letter at once.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::abi::{self, HostError};
use crate::error::{Error, Result};
use crate::host;

/// The quality of service of a publish or a delivered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QoS {
    /// QoS 0: sent once, not acknowledged.
    AtMostOnce,
    /// QoS 1: `publish` returns once the broker acknowledged it.
    AtLeastOnce,
}

impl QoS {
    /// The level on the wire: 0 or 1.
    pub fn to_u8(self) -> u8 {
        match self {
            QoS::AtMostOnce => 0,
            QoS::AtLeastOnce => 1,
        }
    }

    fn from_u8(q: u8) -> QoS {
        if q == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        }
    }
}

/// Sends `payload` to `topic`, relative to the module's namespace
/// `edge/v1/dev/{device}/app/{module}/` ("alerts/hot"). At
/// `QoS::AtLeastOnce` it returns once the broker acknowledged it. Errors
/// are of kind `Denied` (topic not granted), `TooLarge`, `Limited` (over
/// the module's rate), `Unavailable` (no broker connection) and `Timeout`.
pub fn publish(topic: &str, payload: &[u8], qos: QoS) -> Result<()> {
    send(topic, payload, qos, false)
}

/// `publish` with the retain flag: the broker keeps the message as the
/// topic's last value for later subscribers.
pub fn publish_retained(topic: &str, payload: &[u8], qos: QoS) -> Result<()> {
    send(topic, payload, qos, true)
}

/// What `set_native_publisher` installs.
#[cfg(not(target_arch = "wasm32"))]
pub type NativePublisher = Box<dyn FnMut(&str, &[u8], QoS, bool) -> Result<()>>;

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static NATIVE: std::cell::RefCell<Option<NativePublisher>> = std::cell::RefCell::new(None);
}

/// Makes `publish` and `publish_retained` on this thread call `f` with
/// the topic, payload, QoS and retain flag, in a module's tests on the
/// build machine (not in Wasm); None restores the `Unavailable` error. The
/// Go SDK's `SetNativePublisher`.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_native_publisher(f: Option<NativePublisher>) {
    NATIVE.with(|n| *n.borrow_mut() = f);
}

fn send(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<()> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let native = NATIVE.with(|n| n.borrow_mut().as_mut().map(|f| f(topic, payload, qos, retain)));
        if let Some(res) = native {
            return res;
        }
    }
    let mut frame = Vec::with_capacity(10 + topic.len() + payload.len());
    abi::PublishRequest { topic: topic.as_bytes(), payload, qos: qos.to_u8(), retain }.encode(&mut frame);
    publish_result(topic, host::publish(&frame))
}

/// The error of msg_publish's result `n`, which names the topic (as the Go
/// SDK's does).
fn publish_result(topic: &str, n: i32) -> Result<()> {
    match n {
        0 => Ok(()),
        n if n < 0 => Err(Error::from_code(abi::FN_MSG_PUBLISH, n)),
        n => Err(Error::host(
            abi::FN_MSG_PUBLISH,
            HostError { code: abi::ErrorCode::from_u8(n.min(255) as u8), message: topic.as_bytes().to_vec() },
        )),
    }
}

/// One MQTT message delivered to the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The same at every delivery of one message: a handler that must not
    /// act twice remembers it (delivery is at least once).
    pub id: u64,
    /// 1 at the first delivery.
    pub attempt: u32,
    /// The manifest's filter that matched, as declared ("{device}" kept).
    pub filter: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    /// A retained message the broker sent at subscribe.
    pub retained: bool,
}

impl Message {
    /// The message of a Message frame. MQTT topics are UTF-8; anything
    /// else is replaced, as it could match no filter anyway.
    pub fn from_frame(f: &abi::Message<'_>) -> Message {
        Message {
            id: f.id,
            attempt: f.attempt,
            filter: String::from_utf8_lossy(f.filter).into_owned(),
            topic: String::from_utf8_lossy(f.topic).into_owned(),
            payload: f.payload.to_vec(),
            qos: QoS::from_u8(f.qos),
            retained: f.retain,
        }
    }
}

/// One call of a timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    pub name: String,
    pub scheduled: SystemTime,
    /// The ticks skipped since the last call: a timer never overlaps
    /// itself, a late tick is skipped, not queued.
    pub missed: u32,
}

impl Tick {
    /// The tick of a Timer frame.
    pub fn from_frame(f: &abi::Timer<'_>) -> Tick {
        let ms = Duration::from_millis(f.scheduled_ms.unsigned_abs());
        let scheduled = if f.scheduled_ms >= 0 { UNIX_EPOCH.checked_add(ms) } else { UNIX_EPOCH.checked_sub(ms) };
        Tick { name: String::from_utf8_lossy(f.name).into_owned(), scheduled: scheduled.unwrap_or(UNIX_EPOCH), missed: f.missed }
    }
}

/// Why a handler did not handle a message or a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Deliver the message again later (at most 5 deliveries in all). An
    /// `edge::Error` converts to it, so `?` on a host call retries.
    Retry(String),
    /// Never deliver it again: the host counts it as a dead letter. For a
    /// timer the same as `Retry`: the tick failed, the next one comes.
    Drop(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Retry(e.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Retry(s) | Failure::Drop(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Failure {}

/// What the host does with a message after a handler's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: never delivered again.
    Ack,
    /// Delivered again later.
    Retry,
    /// A dead letter.
    Drop,
}

impl Outcome {
    /// The status a trigger export returns (`abi::TRIGGER_*`).
    pub fn to_i32(self) -> i32 {
        match self {
            Outcome::Ack => abi::TRIGGER_OK,
            Outcome::Retry => abi::TRIGGER_RETRY,
            Outcome::Drop => abi::TRIGGER_DROP,
        }
    }
}

type MessageFn<S> = Box<dyn FnMut(&mut S, &Message) -> std::result::Result<(), Failure>>;
type TickFn<S> = Box<dyn FnMut(&mut S, &Tick) -> std::result::Result<(), Failure>>;

/// The module's message and timer handlers, which share a state `S` as a
/// `Router`'s handlers do. `export_triggers!` builds it on the first
/// trigger and exports `edge_on_message` and `edge_on_timer`.
pub struct Triggers<S> {
    state: S,
    messages: Vec<(String, MessageFn<S>)>,
    timers: Vec<(String, TickFn<S>)>,
}

impl<S> Triggers<S> {
    pub fn new(state: S) -> Triggers<S> {
        Triggers { state, messages: Vec::new(), timers: Vec::new() }
    }

    /// Calls `f` for each message on `filter`, which must be one of the
    /// manifest's `messaging.subscribe` filters exactly as declared
    /// ("edge/v1/dev/{device}/in/readings/#"). Panics on a duplicate
    /// filter, a programming error found on the first trigger.
    pub fn message<F>(mut self, filter: &str, f: F) -> Triggers<S>
    where
        F: FnMut(&mut S, &Message) -> std::result::Result<(), Failure> + 'static,
    {
        assert!(!self.messages.iter().any(|(n, _)| n == filter), "edge: duplicate message filter {:?}", filter);
        self.messages.push((filter.to_string(), Box::new(f)));
        self
    }

    /// Calls `f` at each tick of the manifest's timer `name`. Panics on a
    /// duplicate name.
    pub fn timer<F>(mut self, name: &str, f: F) -> Triggers<S>
    where
        F: FnMut(&mut S, &Tick) -> std::result::Result<(), Failure> + 'static,
    {
        assert!(!self.timers.iter().any(|(n, _)| n == name), "edge: duplicate timer {:?}", name);
        self.timers.push((name.to_string(), Box::new(f)));
        self
    }

    /// The state the handlers share.
    pub fn state(&mut self) -> &mut S {
        &mut self.state
    }

    /// Runs the handler of `m.filter` as the host's `edge_on_message`
    /// does, logging what is not acknowledged. A message on a filter with
    /// no handler is dropped.
    pub fn deliver(&mut self, m: &Message) -> Outcome {
        let Triggers { state, messages, .. } = self;
        let h = match messages.iter_mut().find(|(f, _)| *f == m.filter) {
            Some((_, h)) => h,
            None => {
                crate::log::error(&format!(
                    "message on {}: no handler for filter {:?} (Triggers::message): dropped",
                    m.topic, m.filter
                ));
                return Outcome::Drop;
            }
        };
        match h(state, m) {
            Ok(()) => Outcome::Ack,
            Err(Failure::Drop(why)) => {
                crate::log::warn(&format!("message {} on {} dropped: {}", m.id, m.topic, why));
                Outcome::Drop
            }
            Err(Failure::Retry(why)) => {
                crate::log::warn(&format!("message {} on {} (attempt {}) failed: {}", m.id, m.topic, m.attempt, why));
                Outcome::Retry
            }
        }
    }

    /// Runs the handler of timer `t.name` as `edge_on_timer` does: a
    /// failure (or no handler) is logged, and the next tick comes anyway.
    pub fn tick(&mut self, t: &Tick) -> Outcome {
        let Triggers { state, timers, .. } = self;
        let h = match timers.iter_mut().find(|(n, _)| *n == t.name) {
            Some((_, h)) => h,
            None => {
                crate::log::error(&format!("timer {:?}: no handler (Triggers::timer)", t.name));
                return Outcome::Retry;
            }
        };
        match h(state, t) {
            Ok(()) => Outcome::Ack,
            Err(why) => {
                crate::log::warn(&format!("timer {} failed: {}", t.name, why));
                Outcome::Retry
            }
        }
    }
}

/// What the exports need of a `Triggers<S>`, whatever its `S`.
trait Dispatch {
    fn deliver(&mut self, m: &Message) -> Outcome;
    fn tick(&mut self, t: &Tick) -> Outcome;
}

impl<S> Dispatch for Triggers<S> {
    fn deliver(&mut self, m: &Message) -> Outcome {
        Triggers::deliver(self, m)
    }
    fn tick(&mut self, t: &Tick) -> Outcome {
        Triggers::tick(self, t)
    }
}

/// The instance's triggers, built on the first trigger. SAFETY of the
/// accesses: as for `server::SERVER`, the exports never overlap.
static mut TRIGGERS: Option<Box<dyn Dispatch>> = None;

fn triggers<S: 'static>(init: impl FnOnce() -> Triggers<S>) -> &'static mut dyn Dispatch {
    let slot = unsafe { &mut *std::ptr::addr_of_mut!(TRIGGERS) };
    if slot.is_none() {
        *slot = Some(Box::new(init()));
    }
    match slot {
        Some(t) => t.as_mut(),
        None => unreachable!(),
    }
}

/// Runs one trigger export: the frame at `ptr` (which must lie in the
/// `edge_alloc` buffer, else the host retries), decoded into an owned value
/// before any handler runs; a frame that does not decode is answered with
/// `malformed`.
fn export<T>(
    ptr: i32,
    len: i32,
    name: &str,
    decode: impl FnOnce(&[u8]) -> std::result::Result<T, abi::FrameError>,
    malformed: i32,
    run: impl FnOnce(T) -> Outcome,
) -> i32 {
    crate::log::install_panic_hook();
    let server = unsafe { &*std::ptr::addr_of!(crate::server::SERVER) };
    let v = match server.trigger_frame(ptr as u32 as usize, len as u32 as usize).map(decode) {
        None => return abi::TRIGGER_RETRY,
        Some(Err(e)) => {
            crate::log::error(&format!("{}: {}", name, e));
            return malformed;
        }
        Some(Ok(v)) => v,
    };
    run(v).to_i32()
}

#[doc(hidden)]
pub fn export_on_message<S: 'static>(ptr: i32, len: i32, init: impl FnOnce() -> Triggers<S>) -> i32 {
    let decode = |b: &[u8]| abi::Message::decode(b).map(|f| Message::from_frame(&f));
    export(ptr, len, abi::EXPORT_ON_MESSAGE, decode, abi::TRIGGER_DROP, |m| triggers(init).deliver(&m))
}

#[doc(hidden)]
pub fn export_on_timer<S: 'static>(ptr: i32, len: i32, init: impl FnOnce() -> Triggers<S>) -> i32 {
    let decode = |b: &[u8]| abi::Timer::decode(b).map(|f| Tick::from_frame(&f));
    export(ptr, len, abi::EXPORT_ON_TIMER, decode, abi::TRIGGER_RETRY, |t| triggers(init).tick(&t))
}

/// Exports `edge_on_message` and `edge_on_timer` serving the `Triggers`
/// that `$init` (a function or closure taking nothing) returns, built on
/// the first trigger. Use it beside `export_handler!`, which exports the
/// `edge_alloc` the host places trigger frames with.
///
/// ```ignore
/// fn triggers() -> edge::msg::Triggers<()> {
///     edge::msg::Triggers::new(()).timer("tick", |_: &mut (), _: &edge::msg::Tick| Ok(()))
/// }
/// edge::export_triggers!(triggers);
/// ```
#[macro_export]
macro_rules! export_triggers {
    ($init:expr) => {
        #[no_mangle]
        pub extern "C" fn edge_on_message(ptr: i32, len: i32) -> i32 {
            $crate::msg::export_on_message(ptr, len, $init)
        }

        #[no_mangle]
        pub extern "C" fn edge_on_timer(ptr: i32, len: i32) -> i32 {
            $crate::msg::export_on_timer(ptr, len, $init)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// The frame of docs/ABI.md section 6.8.
    #[test]
    fn publish_frame_matches_the_spec() {
        let mut b = Vec::new();
        abi::PublishRequest { topic: b"alerts/hot", payload: b"42", qos: QoS::AtLeastOnce.to_u8(), retain: false }.encode(&mut b);
        let want = [10, 0, 0, 0, b'a', b'l', b'e', b'r', b't', b's', b'/', b'h', b'o', b't', 2, 0, 0, 0, b'4', b'2', 1, 0];
        assert_eq!(b, want);
        // Outside Wasm there is no broker: unavailable, as in a native Go build.
        let e = publish("alerts/hot", b"42", QoS::AtMostOnce).unwrap_err();
        assert_eq!((e.kind(), e.to_string().as_str()), (ErrorKind::Unavailable, "edge msg_publish: unavailable: alerts/hot"));
    }

    #[test]
    fn publish_results() {
        let cases = [(0, None), (4, Some(ErrorKind::Denied)), (5, Some(ErrorKind::TooLarge)), (8, Some(ErrorKind::Limited)),
            (2, Some(ErrorKind::Unavailable)), (6, Some(ErrorKind::Timeout)), (abi::ERR_MALFORMED, Some(ErrorKind::HostCall))];
        for (n, want) in cases {
            assert_eq!(publish_result("t", n).err().map(|e| e.kind()), want, "result {}", n);
        }
        assert_eq!(publish_result("x/1", 8).unwrap_err().to_string(), "edge msg_publish: limited: x/1");
    }

    fn message(filter: &str, payload: &[u8]) -> Message {
        Message { id: 7, attempt: 1, filter: filter.into(), topic: "edge/v1/dev/d/in/t/a".into(), payload: payload.to_vec(),
            qos: QoS::AtLeastOnce, retained: false }
    }

    #[test]
    fn dispatch() {
        let mut t = Triggers::new(Vec::new())
            .message("in/#", |seen: &mut Vec<String>, m: &Message| match &m.payload[..] {
                b"fail" => Err(Failure::Retry("failing".into())),
                b"drop" => Err(Failure::Drop("unwanted".into())),
                b"host" => Ok(publish("x", b"", QoS::AtMostOnce)?), // fails outside Wasm: a retry
                p => {
                    seen.push(String::from_utf8_lossy(p).into_owned());
                    Ok(())
                }
            })
            .timer("tick", |seen: &mut Vec<String>, t: &Tick| {
                seen.push(format!("tick {}", t.missed));
                if t.missed > 5 {
                    return Err(Failure::Drop("late".into()));
                }
                Ok(())
            });
        let cases = [("in/#", &b"a"[..], Outcome::Ack), ("in/#", b"fail", Outcome::Retry), ("in/#", b"drop", Outcome::Drop),
            ("in/#", b"host", Outcome::Retry), ("other/#", b"b", Outcome::Drop)];
        for (filter, payload, want) in cases {
            assert_eq!(t.deliver(&message(filter, payload)), want, "{} {:?}", filter, payload);
        }
        let tick = |missed| Tick { name: "tick".into(), scheduled: UNIX_EPOCH, missed };
        assert_eq!(t.tick(&tick(2)), Outcome::Ack);
        assert_eq!(t.tick(&tick(9)), Outcome::Retry); // a timer's Drop is a failure like any other
        assert_eq!(t.tick(&Tick { name: "nope".into(), scheduled: UNIX_EPOCH, missed: 0 }), Outcome::Retry);
        assert_eq!(t.state(), &vec!["a".to_string(), "tick 2".into(), "tick 9".into()]);

        // With a native publisher, handlers' publishes reach it.
        let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let log = sent.clone();
        set_native_publisher(Some(Box::new(move |topic: &str, payload: &[u8], qos: QoS, retain: bool| {
            log.borrow_mut().push((topic.to_string(), payload.to_vec(), qos, retain));
            Ok(())
        })));
        assert_eq!(t.deliver(&message("in/#", b"host")), Outcome::Ack);
        publish_retained("last", b"1", QoS::AtLeastOnce).unwrap();
        set_native_publisher(None);
        assert!(publish("x", b"", QoS::AtMostOnce).is_err());
        assert_eq!(*sent.borrow(), vec![("x".to_string(), vec![], QoS::AtMostOnce, false), ("last".into(), b"1".to_vec(), QoS::AtLeastOnce, true)]);
        assert_eq!([Outcome::Ack, Outcome::Retry, Outcome::Drop].map(Outcome::to_i32), [0, 1, 2]);
    }

    #[test]
    fn from_frames() {
        let f = abi::Message { id: u64::MAX, attempt: 3, filter: b"f/#", topic: b"f/\xff", payload: b"p", qos: 1, retain: true };
        let m = Message::from_frame(&f);
        assert_eq!((m.id, m.attempt, m.filter.as_str(), m.topic.as_str()), (u64::MAX, 3, "f/#", "f/\u{fffd}"));
        assert_eq!((m.qos, m.retained, &m.payload[..]), (QoS::AtLeastOnce, true, &b"p"[..]));
        let t = Tick::from_frame(&abi::Timer { name: b"tick", scheduled_ms: 1_764_489_600_123, missed: 2 });
        assert_eq!(t.scheduled.duration_since(UNIX_EPOCH).unwrap(), Duration::from_millis(1_764_489_600_123));
        let early = Tick::from_frame(&abi::Timer { name: b"", scheduled_ms: -1000, missed: 0 });
        assert_eq!(UNIX_EPOCH.duration_since(early.scheduled).unwrap(), Duration::from_secs(1));
        Tick::from_frame(&abi::Timer { name: b"", scheduled_ms: i64::MIN, missed: 0 }); // no panic
    }
}
