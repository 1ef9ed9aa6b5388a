//! Client quotas: the entities they apply to (users, client ids, IPs,
//! or their defaults), filters to describe them by, and changes.

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;

/// Who a quota applies to: entity type (`user`, `client-id`, `ip`) to a
/// name, or `None` for that type's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct QuotaEntity {
    /// The components, by entity type.
    pub components: BTreeMap<String, Option<String>>,
}

impl QuotaEntity {
    /// An entity with no components yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a component: `name` of `entity_type`, or its default if `None`.
    pub fn with(mut self, entity_type: impl Into<String>, name: Option<String>) -> Self {
        self.components.insert(entity_type.into(), name);
        self
    }

    /// The user `name`.
    pub fn with_user(self, name: impl Into<String>) -> Self {
        self.with("user", Some(name.into()))
    }

    /// The client id `id`.
    pub fn with_client_id(self, id: impl Into<String>) -> Self {
        self.with("client-id", Some(id.into()))
    }
}

impl std::fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .components
            .iter()
            .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// How a filter component matches an entity type's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum QuotaMatch {
    /// Exactly this name.
    Exact(String),
    /// The type's default entity.
    Default,
    /// Any name, or the default.
    Any,
}

/// Which quotas to describe: each component narrows one entity type.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct QuotaFilter {
    /// Entity type to how its name must match.
    pub components: Vec<(String, QuotaMatch)>,
    /// Only entities with no other types than the components name.
    pub strict: bool,
}

impl QuotaFilter {
    /// Matches every quota.
    pub fn any() -> Self {
        Self::default()
    }

    /// Narrows `entity_type` to names that match.
    pub fn with(mut self, entity_type: impl Into<String>, matching: QuotaMatch) -> Self {
        self.components.push((entity_type.into(), matching));
        self
    }

    /// Only entities that have no other entity types.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    pub(crate) fn problem(&self) -> Option<&'static str> {
        let mut seen = std::collections::BTreeSet::new();
        for (t, _) in &self.components {
            if t.is_empty() {
                return Some("an entity type is empty");
            }
            if !seen.insert(t) {
                return Some("an entity type is named twice");
            }
        }
        None
    }
}

/// One change to an entity's quotas.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QuotaOp {
    /// Sets a quota (`producer_byte_rate`, `request_percentage`, ...).
    Set(String, f64),
    /// Removes a quota.
    Remove(String),
}

impl QuotaOp {
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::Set(k, _) | Self::Remove(k) => k,
        }
    }
}

/// An entity's quotas as described.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuotaEntry {
    /// Who.
    pub entity: QuotaEntity,
    /// Quota name to value.
    pub values: BTreeMap<String, f64>,
}

/// The outcome of the changes to one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaOutcome {
    /// Who.
    pub entity: QuotaEntity,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}

/// Why an entity's changes cannot be sent, if they cannot.
pub(crate) fn problem(entity: &QuotaEntity, ops: &[QuotaOp]) -> Option<&'static str> {
    if entity.components.is_empty() {
        return Some("the entity has no components");
    }
    if entity.components.keys().any(String::is_empty) {
        return Some("an entity type is empty");
    }
    if ops.is_empty() {
        return Some("the entity has no quota changes");
    }
    let mut seen = std::collections::BTreeSet::new();
    for op in ops {
        if op.key().is_empty() {
            return Some("a quota name is empty");
        }
        if !seen.insert(op.key()) {
            return Some("a quota is changed twice");
        }
        if let QuotaOp::Set(_, v) = op {
            if !v.is_finite() || *v <= 0.0 {
                return Some("a quota value must be a positive number");
            }
        }
    }
    None
}
