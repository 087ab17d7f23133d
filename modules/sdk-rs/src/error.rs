//! Errors of host calls.

use std::fmt;

use crate::abi::{self, ErrorCode, FrameError, HostError};

/// What kind of failure an [`Error`] is. The first nine are the host's
/// error codes (`abi::ErrorCode`); the rest arise in the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host failed in a way not listed below.
    Internal,
    /// The database or the remote host could not be reached.
    Unavailable,
    /// Malformed query, bad argument, constraint violation.
    BadRequest,
    /// The capability is not granted to this module.
    Denied,
    /// A request or result is over the host's limit.
    TooLarge,
    /// The request's deadline passed.
    Timeout,
    /// Unknown or finished transaction.
    BadTx,
    /// A key-value compare-and-set found another version: read and retry.
    Conflict,
    /// A publish over the module's rate: nothing was sent; retry later.
    Limited,
    /// A host import failed at the ABI level (bad pointer, malformed
    /// frame): a bug in the guest or the host.
    HostCall,
    /// A value could not be converted to the type asked for.
    Conversion,
}

/// A failed host call or conversion, with the operation it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    code: Option<ErrorCode>, // set when the host reported the failure
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, op: &'static str, message: impl Into<String>) -> Error {
        Error { kind, op, code: None, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The import or operation that failed: "sql", "http_fetch", ...
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// What went wrong, without the operation: for a failure the host
    /// reported, the host's own message (which names the limit of a
    /// `TooLarge`, as the Go SDK's `HostError.Message` does).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The host's error code, when the host reported the failure (rather
    /// than the guest, or the ABI level of the call).
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// Reports whether the database or remote service could not be reached
    /// or did not answer in time: what a service answers with 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }

    /// A failure the host reported for a call of import `op`.
    pub fn host(op: &'static str, e: HostError) -> Error {
        let kind = match e.code {
            ErrorCode::Internal | ErrorCode::Other(_) => ErrorKind::Internal,
            ErrorCode::Unavailable => ErrorKind::Unavailable,
            ErrorCode::BadRequest => ErrorKind::BadRequest,
            ErrorCode::Denied => ErrorKind::Denied,
            ErrorCode::TooLarge => ErrorKind::TooLarge,
            ErrorCode::Timeout => ErrorKind::Timeout,
            ErrorCode::BadTx => ErrorKind::BadTx,
            ErrorCode::Conflict => ErrorKind::Conflict,
            ErrorCode::Limited => ErrorKind::Limited,
        };
        Error { kind, op, code: Some(e.code), message: String::from_utf8_lossy(&e.message).into_owned() }
    }

    pub(crate) fn frame(op: &'static str, e: FrameError) -> Error {
        Error::new(ErrorKind::HostCall, op, e.to_string())
    }

    /// Converts the negative result of a host import.
    pub fn from_code(op: &'static str, code: i32) -> Error {
        let (kind, msg) = match code {
            abi::ERR_TOO_LARGE => (ErrorKind::TooLarge, "frame over the host's limit".to_string()),
            abi::ERR_MEMORY => (ErrorKind::HostCall, "pointer out of range".to_string()),
            abi::ERR_MALFORMED => (ErrorKind::HostCall, "host could not decode the frame".to_string()),
            abi::ERR_NO_RESULT => (ErrorKind::HostCall, "no pending result".to_string()),
            abi::ERR_NOT_FOUND => (ErrorKind::HostCall, "not found".to_string()),
            c => (ErrorKind::HostCall, format!("code {}", c)),
        };
        Error::new(kind, op, msg)
    }
}

impl fmt::Display for Error {
    /// "edge OP: CODE: MESSAGE" for a failure the host reported (as the Go
    /// SDK's HostError reads), "edge OP: MESSAGE" for the others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "edge {}: {}: {}", self.op, code, self.message),
            None => write!(f, "edge {}: {}", self.op, self.message),
        }
    }
}

impl std::error::Error for Error {}

/// The result of a host call.
pub type Result<T> = std::result::Result<T, Error>;
