//! The one error type of this crate.

use kafka_proto::ErrorCode;
use kafka_state::{FatalError, Misuse, RequestError, TopicOutcome};

/// Why a call failed, or (converted from an event) why a command did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The arguments or the configuration were wrong; nothing was sent.
    #[error(transparent)]
    Misuse(Misuse),
    /// No broker answered a request (from an
    /// [`Event::AdminResult`](crate::Event::AdminResult)).
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
    /// The `Poll` registry could not be shared with the client.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Self {
        match m {
            Misuse::Closed => Error::Closed,
            Misuse::Failed(fatal) => Error::Fatal(fatal),
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

    /// The first failed topic of a create or delete as an
    /// [`Error::Kafka`], or `Ok` when every topic succeeded.
    pub fn check_topics(outcomes: &[TopicOutcome]) -> Result<(), Error> {
        match outcomes.iter().find(|o| o.error.is_error()) {
            Some(o) => Err(Error::Kafka {
                code: o.error,
                message: Some(match &o.message {
                    Some(m) => format!("{}: {m}", o.name),
                    None => o.name.clone(),
                }),
            }),
            None => Ok(()),
        }
    }
}
