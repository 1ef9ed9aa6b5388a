//! `kfk acl list|add|remove`: ACLs, as flags turned into bindings and
//! filters the client checks again before sending.

use kafka_tokio::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
    Client, ErrorCode,
};
use serde_json::{json, Value};

use crate::outcome::Failure;

/// The flags that name ACLs; each left out matches anything (in a
/// filter) or takes its default (in a binding to add).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AclArgs {
    /// topic, group, cluster, transactional_id, delegation_token, user
    /// (or any, in a filter).
    #[arg(long = "resource-type", value_name = "TYPE")]
    pub resource_type: Option<String>,
    /// The resource's name, prefix or `*` (a cluster is `kafka-cluster`).
    #[arg(long = "resource-name", value_name = "NAME")]
    pub resource_name: Option<String>,
    /// literal or prefixed (or any / match, in a filter).
    #[arg(long = "pattern", value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Who, as `User:alice`.
    #[arg(long)]
    pub principal: Option<String>,
    /// From where (`*`: any host).
    #[arg(long)]
    pub host: Option<String>,
    /// read, write, describe, describe_configs, all, ...
    #[arg(long)]
    pub operation: Option<String>,
    /// allow or deny (or any, in a filter).
    #[arg(long)]
    pub permission: Option<String>,
}

fn parsed<T>(
    flag: &str,
    value: &Option<String>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, String> {
    value
        .as_deref()
        .map(|v| parse(v).ok_or_else(|| format!("--{flag} {v}: not a known value")))
        .transpose()
}

impl AclArgs {
    /// The filter the flags describe (`any` is the same as leaving a flag
    /// out).
    pub fn filter(&self) -> Result<AclBindingFilter, String> {
        let mut f = AclBindingFilter::any();
        f.resource_type = parsed("resource-type", &self.resource_type, AclResourceType::parse)?
            .filter(|t| *t != AclResourceType::Any);
        f.resource_name = self.resource_name.clone();
        f.pattern_type = parsed("pattern", &self.pattern, AclPatternType::parse)?;
        f.principal = self.principal.clone();
        f.host = self.host.clone();
        f.operation = match self.operation.as_deref() {
            Some(o) if o.eq_ignore_ascii_case("any") => None,
            _ => parsed("operation", &self.operation, AclOperation::parse)?,
        };
        f.permission = parsed("permission", &self.permission, AclPermission::parse)?
            .filter(|p| *p != AclPermission::Any);
        Ok(f)
    }

    /// The binding to add: a resource type, a principal and an operation
    /// are required; the rest defaults to a literal name, any host, allow.
    pub fn binding(&self) -> Result<AclBinding, String> {
        let resource_type = parsed("resource-type", &self.resource_type, AclResourceType::parse)?
            .ok_or("--resource-type is required")?;
        let resource_name = match (&self.resource_name, resource_type) {
            (Some(n), _) => n.clone(),
            (None, AclResourceType::Cluster) => "kafka-cluster".into(),
            (None, _) => return Err("--resource-name is required".into()),
        };
        let principal = self.principal.clone().ok_or("--principal is required")?;
        let operation = parsed("operation", &self.operation, AclOperation::parse)?
            .ok_or("--operation is required")?;
        let permission = parsed("permission", &self.permission, AclPermission::parse)?
            .unwrap_or(AclPermission::Allow);
        let pattern = parsed("pattern", &self.pattern, AclPatternType::parse)?
            .unwrap_or(AclPatternType::Literal);
        Ok(AclBinding::new(
            resource_type,
            resource_name,
            principal,
            operation,
            permission,
        )
        .with_pattern_type(pattern)
        .with_host(self.host.clone().unwrap_or_else(|| "*".into())))
    }
}

fn failed(what: &dyn std::fmt::Display, code: ErrorCode, message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{what}: {code}: {m}"),
        _ => format!("{what}: {code}"),
    }
}

/// Adds one binding; the broker's refusal is the error.
pub async fn add(client: &Client, binding: AclBinding) -> Result<(), Failure> {
    let created = client
        .create_acls([binding.clone()])
        .await
        .map_err(crate::error_line)?;
    match created.first() {
        Some(o) if o.error.is_error() => Err(Failure::refused(&binding, o.error, &o.message)),
        Some(_) => Ok(()),
        None => Err(format!("{binding}: no answer").into()),
    }
}

/// Removes what the filter matches; returns the bindings removed.
pub async fn remove(client: &Client, filter: AclBindingFilter) -> Result<Vec<AclBinding>, String> {
    let deleted = client
        .delete_acls([filter.clone()])
        .await
        .map_err(crate::error_line)?;
    let outcome = deleted
        .into_iter()
        .next()
        .ok_or_else(|| format!("{filter}: no answer"))?;
    if outcome.error.is_error() {
        return Err(failed(&filter, outcome.error, &outcome.message));
    }
    let mut removed = Vec::new();
    for d in outcome.deleted {
        if d.error.is_error() {
            return Err(failed(&d.binding, d.error, &d.message));
        }
        removed.push(d.binding);
    }
    Ok(removed)
}

/// One binding per line, in aligned columns.
pub fn to_text(bindings: &[AclBinding]) -> String {
    let rows: Vec<Vec<String>> = bindings
        .iter()
        .map(|b| {
            vec![
                b.principal.clone(),
                b.host.clone(),
                b.permission.name().to_string(),
                b.operation.name().to_string(),
                b.resource_type.name().to_string(),
                b.pattern_type.name().to_string(),
                b.resource_name.clone(),
            ]
        })
        .collect();
    // The resource's name last: only a long one makes a line long.
    crate::table::render(
        &[
            "PRINCIPAL",
            "HOST",
            "PERMISSION",
            "OPERATION",
            "RESOURCE-TYPE",
            "PATTERN",
            "RESOURCE",
        ],
        &rows,
    )
}

pub fn to_json(bindings: &[AclBinding]) -> Value {
    Value::Array(bindings.iter().map(binding_json).collect())
}

/// One binding as a JSON object.
pub fn binding_json(b: &AclBinding) -> Value {
    json!({
        "principal": b.principal,
        "permission": b.permission.name(),
        "operation": b.operation.name(),
        "resource_type": b.resource_type.name(),
        "pattern_type": b.pattern_type.name(),
        "resource_name": b.resource_name,
        "host": b.host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_bindings_and_filters() {
        let args = AclArgs {
            resource_type: Some("topic".into()),
            resource_name: Some("t".into()),
            principal: Some("User:alice".into()),
            operation: Some("read".into()),
            ..AclArgs::default()
        };
        let b = args.binding().unwrap();
        assert_eq!(b.permission, AclPermission::Allow);
        assert_eq!(b.pattern_type, AclPatternType::Literal);
        assert_eq!(b.host, "*");
        assert_eq!(args.filter().unwrap().operation, Some(AclOperation::Read));
        assert_eq!(
            AclArgs::default().filter().unwrap(),
            AclBindingFilter::any()
        );
        let bad = AclArgs {
            operation: Some("juggle".into()),
            ..args.clone()
        };
        assert!(bad.binding().unwrap_err().contains("juggle"));
        let cluster = AclArgs {
            resource_type: Some("cluster".into()),
            resource_name: None,
            ..args
        };
        assert_eq!(cluster.binding().unwrap().resource_name, "kafka-cluster");
        assert!(AclArgs::default().binding().is_err());
    }
}
