//! ACL types: a binding to create, a filter to describe or delete by,
//! and their protocol codes.

use kafka_proto::ErrorCode;

use super::ops::AclOperation;

/// What kind of resource an ACL is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AclResourceType {
    /// Any kind (filters only).
    Any,
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// The cluster (named `kafka-cluster`).
    Cluster,
    /// A transactional id.
    TransactionalId,
    /// A delegation token.
    DelegationToken,
    /// A user (for quotas and tokens).
    User,
    /// A code this client does not know.
    Unknown(i8),
}

impl AclResourceType {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Any => 1,
            Self::Topic => 2,
            Self::Group => 3,
            Self::Cluster => 4,
            Self::TransactionalId => 5,
            Self::DelegationToken => 6,
            Self::User => 7,
            Self::Unknown(c) => c,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            6 => Self::DelegationToken,
            7 => Self::User,
            c => Self::Unknown(c),
        }
    }

    /// Kafka's name for it (`TOPIC`, `TRANSACTIONAL_ID`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "ANY",
            Self::Topic => "TOPIC",
            Self::Group => "GROUP",
            Self::Cluster => "CLUSTER",
            Self::TransactionalId => "TRANSACTIONAL_ID",
            Self::DelegationToken => "DELEGATION_TOKEN",
            Self::User => "USER",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Any,
            Self::Topic,
            Self::Group,
            Self::Cluster,
            Self::TransactionalId,
            Self::DelegationToken,
            Self::User,
        ]
        .into_iter()
        .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// How an ACL's resource name is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AclPatternType {
    /// Any pattern type (filters only).
    Any,
    /// Every binding that would apply to the filter's name: literal,
    /// wildcard and prefixes of it (filters only).
    Match,
    /// The name exactly (or `*`, every resource).
    Literal,
    /// Every name that starts with it.
    Prefixed,
    /// A code this client does not know.
    Unknown(i8),
}

impl AclPatternType {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Any => 1,
            Self::Match => 2,
            Self::Literal => 3,
            Self::Prefixed => 4,
            Self::Unknown(c) => c,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Match,
            3 => Self::Literal,
            4 => Self::Prefixed,
            c => Self::Unknown(c),
        }
    }

    /// Kafka's name for it (`LITERAL`, `PREFIXED`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "ANY",
            Self::Match => "MATCH",
            Self::Literal => "LITERAL",
            Self::Prefixed => "PREFIXED",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Any, Self::Match, Self::Literal, Self::Prefixed]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// Whether an ACL allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AclPermission {
    /// Either (filters only).
    Any,
    /// Denies; a deny wins over any allow.
    Deny,
    /// Allows.
    Allow,
    /// A code this client does not know.
    Unknown(i8),
}

impl AclPermission {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Any => 1,
            Self::Deny => 2,
            Self::Allow => 3,
            Self::Unknown(c) => c,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Any,
            2 => Self::Deny,
            3 => Self::Allow,
            c => Self::Unknown(c),
        }
    }

    /// Kafka's name for it (`ALLOW`, `DENY`, `ANY`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "ANY",
            Self::Deny => "DENY",
            Self::Allow => "ALLOW",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// Parses Kafka's name, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Any, Self::Deny, Self::Allow]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

/// One ACL: `principal` from `host` is allowed (or denied) `operation`
/// on the resources the pattern names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct AclBinding {
    /// The kind of resource.
    pub resource_type: AclResourceType,
    /// The resource's name, a prefix of names, or `*`.
    pub resource_name: String,
    /// How `resource_name` is matched.
    pub pattern_type: AclPatternType,
    /// Who, as `User:alice` (`User:*` for everyone).
    pub principal: String,
    /// From where; `*` for any host.
    pub host: String,
    /// What.
    pub operation: AclOperation,
    /// Allowed or denied.
    pub permission: AclPermission,
}

impl AclBinding {
    /// A literal binding from any host.
    pub fn new(
        resource_type: AclResourceType,
        resource_name: impl Into<String>,
        principal: impl Into<String>,
        operation: AclOperation,
        permission: AclPermission,
    ) -> Self {
        Self {
            resource_type,
            resource_name: resource_name.into(),
            pattern_type: AclPatternType::Literal,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    /// Sets how the resource name is matched.
    pub fn with_pattern_type(mut self, pattern_type: AclPatternType) -> Self {
        self.pattern_type = pattern_type;
        self
    }

    /// Sets the host the binding applies to.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Why the binding cannot be created, if it cannot: filter-only
    /// values and empty fields are refused before anything is sent.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if matches!(
            self.resource_type,
            AclResourceType::Any | AclResourceType::Unknown(_)
        ) {
            return Some("the resource type must be a concrete one, not ANY or UNKNOWN");
        }
        if !matches!(
            self.pattern_type,
            AclPatternType::Literal | AclPatternType::Prefixed
        ) {
            return Some("the pattern type must be LITERAL or PREFIXED");
        }
        if !matches!(self.permission, AclPermission::Allow | AclPermission::Deny) {
            return Some("the permission must be ALLOW or DENY");
        }
        if matches!(self.operation, AclOperation::Unknown(_)) {
            return Some("the operation is UNKNOWN");
        }
        if self.resource_name.is_empty() {
            return Some("the resource name is empty");
        }
        if self.principal.is_empty() {
            return Some("the principal is empty");
        }
        if !self.principal.contains(':') {
            return Some("the principal must be TYPE:NAME, as User:alice");
        }
        if self.host.is_empty() {
            return Some("the host is empty (use * for any host)");
        }
        None
    }

    /// The filter that matches exactly this binding.
    pub fn to_filter(&self) -> AclBindingFilter {
        AclBindingFilter {
            resource_type: Some(self.resource_type),
            resource_name: Some(self.resource_name.clone()),
            pattern_type: Some(self.pattern_type),
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: Some(self.operation),
            permission: Some(self.permission),
        }
    }
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} on {}:{}:{} from {}",
            self.principal,
            self.permission.name(),
            self.operation.name(),
            self.resource_type.name(),
            self.pattern_type.name(),
            self.resource_name,
            self.host
        )
    }
}

/// Which ACLs to describe or delete; a `None` field matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct AclBindingFilter {
    /// The kind of resource.
    pub resource_type: Option<AclResourceType>,
    /// The resource name (with [`AclPatternType::Match`], every binding
    /// that applies to this name).
    pub resource_name: Option<String>,
    /// The pattern type; `None` is [`AclPatternType::Any`].
    pub pattern_type: Option<AclPatternType>,
    /// The principal.
    pub principal: Option<String>,
    /// The host.
    pub host: Option<String>,
    /// The operation.
    pub operation: Option<AclOperation>,
    /// The permission.
    pub permission: Option<AclPermission>,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only ACLs on this kind of resource.
    pub fn with_resource_type(mut self, t: AclResourceType) -> Self {
        self.resource_type = Some(t);
        self
    }

    /// Only ACLs on this resource name.
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Only ACLs of this pattern type (or, with `Match`, that apply).
    pub fn with_pattern_type(mut self, p: AclPatternType) -> Self {
        self.pattern_type = Some(p);
        self
    }

    /// Only ACLs of this principal.
    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// Only ACLs for this host.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Only ACLs of this operation.
    pub fn with_operation(mut self, op: AclOperation) -> Self {
        self.operation = Some(op);
        self
    }

    /// Only ACLs of this permission.
    pub fn with_permission(mut self, p: AclPermission) -> Self {
        self.permission = Some(p);
        self
    }

    /// Why the filter cannot be sent, if it cannot.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if matches!(self.resource_type, Some(AclResourceType::Unknown(_)))
            || matches!(self.pattern_type, Some(AclPatternType::Unknown(_)))
            || matches!(self.permission, Some(AclPermission::Unknown(_)))
            || matches!(self.operation, Some(AclOperation::Unknown(_)))
        {
            return Some("a filter field is UNKNOWN (use None to match anything)");
        }
        None
    }

    pub(crate) fn codes(&self) -> (i8, i8, i8, i8) {
        (
            self.resource_type.unwrap_or(AclResourceType::Any).code(),
            self.pattern_type.unwrap_or(AclPatternType::Any).code(),
            self.operation.map_or(1, AclOperation::code),
            self.permission.unwrap_or(AclPermission::Any).code(),
        )
    }
}

impl std::fmt::Display for AclBindingFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_any = |s: &Option<String>| s.clone().unwrap_or_else(|| "ANY".into());
        write!(
            f,
            "{} {} {} on {}:{}:{} from {}",
            or_any(&self.principal),
            self.permission.unwrap_or(AclPermission::Any).name(),
            self.operation.map_or("ANY", AclOperation::name),
            self.resource_type.unwrap_or(AclResourceType::Any).name(),
            self.pattern_type.unwrap_or(AclPatternType::Any).name(),
            or_any(&self.resource_name),
            or_any(&self.host),
        )
    }
}

/// The outcome of one binding: created, or deleted by a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclOutcome {
    /// The binding.
    pub binding: AclBinding,
    /// [`ErrorCode::None`] on success.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
}

/// What one delete filter did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AclFilterOutcome {
    /// The filter.
    pub filter: AclBindingFilter,
    /// [`ErrorCode::None`] if the filter was applied.
    pub error: ErrorCode,
    /// The broker's explanation, if it gave one.
    pub message: Option<String>,
    /// The bindings it matched, each with whether it was deleted.
    pub deleted: Vec<AclOutcome>,
}

/// A binding from its protocol codes.
pub(crate) fn binding_from(
    resource_type: i8,
    resource_name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
) -> AclBinding {
    AclBinding {
        resource_type: AclResourceType::from_code(resource_type),
        resource_name,
        pattern_type: AclPatternType::from_code(pattern_type),
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_parse() {
        for c in 0..9 {
            assert_eq!(AclResourceType::from_code(c).code(), c);
            assert_eq!(AclPatternType::from_code(c).code(), c);
            assert_eq!(AclPermission::from_code(c).code(), c);
            assert_eq!(AclOperation::from_code(c).code(), c);
        }
        assert_eq!(
            AclResourceType::parse("transactional_id"),
            Some(AclResourceType::TransactionalId)
        );
        assert_eq!(
            AclPatternType::parse("Prefixed"),
            Some(AclPatternType::Prefixed)
        );
        assert_eq!(AclPermission::parse("deny"), Some(AclPermission::Deny));
        assert_eq!(
            AclOperation::parse("describe_configs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(AclOperation::parse("nope"), None);
    }

    #[test]
    fn bindings_with_filter_values_are_refused() {
        let ok = AclBinding::new(
            AclResourceType::Topic,
            "t",
            "User:alice",
            AclOperation::Read,
            AclPermission::Allow,
        );
        assert_eq!(ok.problem(), None);
        let bad = [
            ok.clone().with_pattern_type(AclPatternType::Match),
            ok.clone().with_pattern_type(AclPatternType::Any),
            ok.clone().with_host(""),
            AclBinding {
                principal: String::new(),
                ..ok.clone()
            },
            AclBinding {
                principal: "alice".into(),
                ..ok.clone()
            },
            AclBinding {
                resource_type: AclResourceType::Any,
                ..ok.clone()
            },
            AclBinding {
                permission: AclPermission::Any,
                ..ok.clone()
            },
            AclBinding {
                operation: AclOperation::Unknown(0),
                ..ok.clone()
            },
        ];
        for b in bad {
            assert!(b.problem().is_some(), "{b}");
        }
        assert_eq!(AclBindingFilter::any().codes(), (1, 1, 1, 1));
        assert_eq!(ok.to_filter().codes(), (2, 3, 3, 3));
    }
}
