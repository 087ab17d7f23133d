//! Logging through the host, which tags each record with the module's name
//! and version and applies the agent's limits. Levels are those of Go's
//! log/slog.

use crate::abi;
use crate::host;

/// A log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The level's value on the wire.
    pub fn to_i32(self) -> i32 {
        match self {
            Level::Debug => abi::LEVEL_DEBUG,
            Level::Info => abi::LEVEL_INFO,
            Level::Warn => abi::LEVEL_WARN,
            Level::Error => abi::LEVEL_ERROR,
        }
    }
}

/// Sends `msg` to the host's log at `level`.
pub fn log(level: Level, msg: &str) {
    host::log(level.to_i32(), msg.as_bytes());
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

pub fn info(msg: &str) {
    log(Level::Info, msg);
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

pub fn error(msg: &str) {
    log(Level::Error, msg);
}

/// Sends panics to the host's log at error level. A panic then aborts:
/// the instance traps, the host answers 500 and replaces the instance (a
/// Wasm guest cannot unwind). Handlers should return errors, not panic.
/// Installs the hook once per instance: the first export the host calls
/// (a request or a trigger) does it.
pub(crate) fn install_panic_hook() {
    // SAFETY: the exports that call this never overlap (server::SERVER).
    static mut INSTALLED: bool = false;
    unsafe {
        if INSTALLED {
            return;
        }
        INSTALLED = true;
    }
    std::panic::set_hook(Box::new(|info| error(&format!("panic: {}", info))));
}
