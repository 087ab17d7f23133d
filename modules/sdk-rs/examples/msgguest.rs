//! The messaging test guest in Rust: what the Go guest
//! agent/wasmhost/testdata/msgguest does, through this crate's `msg`, so
//! tests/messaging runs its broker tests on both SDKs.
//!
//! GET /healthz answers ok; GET /publish?topic=T&payload=P&qos=Q[&retain=1]
//! publishes and answers "ok" or the error. Messages on its filters act on
//! their payload: "fail" fails (retried), "flaky" fails its first attempt
//! only, "drop" is dropped, "nop" is acknowledged and nothing else, "exit"
//! ends the process (a trap), "slow" sleeps 2 s, anything else is
//! published back on "echo/<payload>" with the message's id, attempt and
//! topic. Timer "tick" publishes "ticks" with its missed count; timer
//! "slow" sleeps 350 ms. Sleeps are `std::thread::sleep`, one WASI
//! `poll_oneoff`, which the agent makes a real sleep bounded by the
//! call's deadline (agent/wasmhost/sleep.go).
//!
//! Rebuild the committed module (agent/wasmhost/testdata/msgguest-rs.wasm)
//! with `make rust-testdata`.

use std::thread::sleep;
use std::time::Duration;

use edge::msg::{self, Failure, Message, QoS, Tick, Triggers};
use edge::{Request, Response};

const FILTER: &str = "edge/v1/dev/{device}/in/t/#";

fn serve(r: &Request) -> Response {
    if r.path() == "/healthz" {
        return Response::text(200, "ok");
    }
    let q = r.query();
    // QoS 2 cannot be asked for in Rust (QoS has two values); answered as
    // the Go SDK answers Publish with qos 2.
    let qos = match q.get("qos").unwrap_or("0") {
        "0" => QoS::AtMostOnce,
        "1" => QoS::AtLeastOnce,
        other => return Response::text(500, format!("edge publish: bad request: qos {}", other)),
    };
    let (topic, payload) = (q.get("topic").unwrap_or(""), q.get_bytes("payload").unwrap_or(b""));
    let res = if q.get("retain") == Some("1") {
        msg::publish_retained(topic, payload, qos)
    } else {
        msg::publish(topic, payload, qos)
    };
    match res {
        Ok(()) => Response::text(200, "ok"),
        Err(e) => Response::text(500, e.to_string()),
    }
}

fn handle(_: &mut (), m: &Message) -> Result<(), Failure> {
    match &m.payload[..] {
        b"fail" => return Err(Failure::Retry(format!("failing attempt {}", m.attempt))),
        b"flaky" if m.attempt == 1 => return Err(Failure::Retry("failing the first attempt".into())),
        b"drop" => return Err(Failure::Drop("asked to".into())),
        b"exit" => std::process::exit(3),
        b"slow" => sleep(Duration::from_secs(2)),
        b"nop" => return Ok(()),
        _ => {}
    }
    let topic = format!("echo/{}", String::from_utf8_lossy(&m.payload));
    msg::publish(&topic, format!("{} {} {}", m.id, m.attempt, m.topic).as_bytes(), QoS::AtLeastOnce)?;
    Ok(())
}

fn tick(_: &mut (), t: &Tick) -> Result<(), Failure> {
    msg::publish("ticks", t.missed.to_string().as_bytes(), QoS::AtMostOnce)?;
    Ok(())
}

fn slow(_: &mut (), t: &Tick) -> Result<(), Failure> {
    sleep(Duration::from_millis(350));
    msg::publish("slow", t.missed.to_string().as_bytes(), QoS::AtMostOnce)?;
    Ok(())
}

fn triggers() -> Triggers<()> {
    Triggers::new(())
        .message(FILTER, handle)
        .message("edge/v1/dev/+/app/+/sensor", handle)
        .timer("tick", tick)
        .timer("slow", slow)
}

fn app() -> fn(&Request) -> Response {
    serve
}

edge::export_handler!(app);
edge::export_triggers!(triggers);
