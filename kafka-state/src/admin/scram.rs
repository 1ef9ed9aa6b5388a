//! SCRAM credentials as an administrator sees them: described by
//! mechanism and iterations, stored as a salt and a salted password the
//! client computes, so the password never leaves it.

use kafka_proto::ErrorCode;

/// The SCRAM mechanisms Kafka stores credentials for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
    /// A code this client does not know.
    Unknown(i8),
}

impl ScramMechanism {
    /// The fewest iterations Kafka accepts.
    pub const MIN_ITERATIONS: u32 = 4096;
    /// The most iterations Kafka accepts.
    pub const MAX_ITERATIONS: u32 = 16_384;

    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
            Self::Unknown(c) => c,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Sha256,
            2 => Self::Sha512,
            c => Self::Unknown(c),
        }
    }

    /// Kafka's name for it (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha512]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }
}

/// One credential a user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScramCredentialInfo {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// The iterations of its salted password.
    pub iterations: i32,
}

/// A user's SCRAM credentials, or why they could not be described.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserScramCredentials {
    /// The user.
    pub user: String,
    /// [`ErrorCode::None`] on success (`RESOURCE_NOT_FOUND` for a user
    /// without credentials).
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
    /// The credentials, one per mechanism.
    pub credentials: Vec<ScramCredentialInfo>,
}

/// One change to a user's SCRAM credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramChange {
    /// Sets (or replaces) the user's credential for a mechanism.
    Upsert {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// Iterations, 4096 to 16384.
        iterations: u32,
        /// The password; only its salted form is sent.
        password: String,
    },
    /// Removes the user's credential for a mechanism.
    Delete {
        /// The user.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
    },
}

impl std::fmt::Debug for ScramChange {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upsert {
                user,
                mechanism,
                iterations,
                ..
            } => f
                .debug_struct("Upsert")
                .field("user", user)
                .field("mechanism", mechanism)
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            Self::Delete { user, mechanism } => f
                .debug_struct("Delete")
                .field("user", user)
                .field("mechanism", mechanism)
                .finish(),
        }
    }
}

impl ScramChange {
    /// Sets `user`'s credential for `mechanism`.
    pub fn upsert(
        user: impl Into<String>,
        mechanism: ScramMechanism,
        iterations: u32,
        password: impl Into<String>,
    ) -> Self {
        Self::Upsert {
            user: user.into(),
            mechanism,
            iterations,
            password: password.into(),
        }
    }

    /// Removes `user`'s credential for `mechanism`.
    pub fn delete(user: impl Into<String>, mechanism: ScramMechanism) -> Self {
        Self::Delete {
            user: user.into(),
            mechanism,
        }
    }

    /// The user it changes.
    pub fn user(&self) -> &str {
        match self {
            Self::Upsert { user, .. } | Self::Delete { user, .. } => user,
        }
    }

    pub(crate) fn mechanism(&self) -> ScramMechanism {
        match self {
            Self::Upsert { mechanism, .. } | Self::Delete { mechanism, .. } => *mechanism,
        }
    }

    /// Why it cannot be sent, if it cannot.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.user().is_empty() {
            return Some("the user name is empty");
        }
        if matches!(self.mechanism(), ScramMechanism::Unknown(_)) {
            return Some("the mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512");
        }
        if let Self::Upsert {
            iterations,
            password,
            ..
        } = self
        {
            if !(ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS)
                .contains(iterations)
            {
                return Some("the iterations must be 4096 to 16384");
            }
            if password.is_empty() {
                return Some("the password is empty");
            }
        }
        None
    }
}

/// A change as it is sent: the salted password instead of the password.
#[derive(Debug, Clone)]
pub(crate) enum SaltedChange {
    Upsert {
        mechanism: ScramMechanism,
        iterations: i32,
        salt: bytes::Bytes,
        salted_password: bytes::Bytes,
    },
    Delete(ScramMechanism),
}

/// The outcome of the changes to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserOutcome {
    /// The user.
    pub user: String,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}
