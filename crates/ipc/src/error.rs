//! Errors of setting up IPC, and how call failures cross the boundary.

use std::io;

use kestrel_interfaces::{rpc_code, Error};

use crate::schema::common_capnp::rejected;

/// Failure to set up IPC (spawn, bind, connect, bad `-ipc*` value).
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid {option}={value}: {reason}")]
    BadArgument {
        option: &'static str,
        value: String,
        reason: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("the IPC event loop has stopped")]
    LoopStopped,
}

impl IpcError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// Writes a failed call's outcome into its result's `rejected` field. A
/// `Disconnected` seen by the far side's implementation (its own peer went
/// away) is a refusal of this call, not a loss of this connection.
pub(crate) fn write_rejected(mut out: rejected::Builder<'_>, error: &Error) {
    match error {
        Error::Rejected { code, message } => {
            out.set_code(*code);
            out.set_message(message.as_str());
        }
        Error::Disconnected(..) => {
            out.set_code(rpc_code::MISC_ERROR);
            out.set_message(error.to_string().as_str());
        }
    }
}

/// The `Error::Rejected` that a result's `rejected` field describes.
pub(crate) fn read_rejected(r: rejected::Reader<'_>) -> capnp::Result<Error> {
    Ok(Error::Rejected {
        code: r.get_code(),
        message: r.get_message()?.to_string()?,
    })
}
