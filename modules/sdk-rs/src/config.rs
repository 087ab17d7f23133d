//! Configuration values the agent grants the module (`edgectl push
//! --config key=value`).

use crate::abi;
use crate::host::{self, Import};

/// Returns the value of `key`, or None when it is not set. A host failure
/// is logged and reads as None.
pub fn get(key: &str) -> Option<String> {
    let mut buf = Vec::with_capacity(256);
    match host::call_raw(Import::ConfigGet, key.as_bytes(), &mut buf) {
        Ok(()) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(abi::ERR_NOT_FOUND) => None,
        Err(code) => {
            crate::log::error(&crate::error::Error::from_code(abi::FN_CONFIG_GET, code).to_string());
            None
        }
    }
}
