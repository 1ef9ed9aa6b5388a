//! The one error type of this crate.

use kafka_proto::ErrorCode;
use kafka_state::{FatalError, Misuse, RequestError, TopicOutcome};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The arguments or the configuration were wrong; nothing was sent.
    #[error(transparent)]
    Misuse(Misuse),
    /// No broker answered the request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A broker answered with an error code.
    #[error("{code}{}", message.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default())]
    Kafka {
        /// The code; its name is `code.name()`.
        code: ErrorCode,
        /// The broker's explanation or the object concerned, if any.
        message: Option<String>,
    },
    /// The client failed for good.
    #[error(transparent)]
    Fatal(#[from] FatalError),
    /// The call did not finish within its timeout.
    #[error("timed out")]
    Timeout,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Self {
        match m {
            // One name for "closed", whichever side noticed first.
            Misuse::Closed => Error::Closed,
            m => Error::Misuse(m),
        }
    }
}

impl Error {
    /// The Kafka error code, when a broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The first failed topic of a create or delete, as an error.
pub(crate) fn first_error(outcomes: Vec<TopicOutcome>) -> Result<(), Error> {
    match outcomes.into_iter().find(|o| o.error.is_error()) {
        Some(o) => Err(Error::Kafka {
            code: o.error,
            message: Some(match o.message {
                Some(m) => format!("{}: {m}", o.name),
                None => o.name,
            }),
        }),
        None => Ok(()),
    }
}
