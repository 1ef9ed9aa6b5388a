//! Changes to the cluster's finalized feature levels (UpdateFeatures).

use kafka_proto::ErrorCode;

/// How a feature's level may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FeatureUpgrade {
    /// Only up.
    Upgrade,
    /// Down, where no metadata is lost.
    SafeDowngrade,
    /// Down even if metadata is lost.
    UnsafeDowngrade,
}

impl FeatureUpgrade {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Upgrade => 1,
            Self::SafeDowngrade => 2,
            Self::UnsafeDowngrade => 3,
        }
    }
}

/// A feature to finalize at a level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FeatureUpdate {
    /// The feature (`metadata.version`, `transaction.version`, ...).
    pub name: String,
    /// The new level; 0 removes the feature (a downgrade).
    pub level: i16,
    /// Which way it may move.
    pub upgrade: FeatureUpgrade,
}

impl FeatureUpdate {
    /// Raises `name` to `level`.
    pub fn upgrade(name: impl Into<String>, level: i16) -> Self {
        Self {
            name: name.into(),
            level,
            upgrade: FeatureUpgrade::Upgrade,
        }
    }

    /// Moves `name` to `level`, `upgrade` saying which way it may go.
    pub fn new(name: impl Into<String>, level: i16, upgrade: FeatureUpgrade) -> Self {
        Self {
            name: name.into(),
            level,
            upgrade,
        }
    }

    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.name.is_empty() {
            return Some("the feature name is empty");
        }
        if self.level < 0 {
            return Some("the level is negative");
        }
        if self.level == 0 && self.upgrade == FeatureUpgrade::Upgrade {
            return Some("level 0 removes a feature, which only a downgrade may do");
        }
        None
    }
}

/// The outcome of one feature's update.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeatureOutcome {
    /// The feature.
    pub name: String,
    /// [`ErrorCode::None`] on success (or, with `validate_only`, if it
    /// would succeed).
    pub error: ErrorCode,
    /// The controller's explanation, if it gave one.
    pub message: Option<String>,
}
