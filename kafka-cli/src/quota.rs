//! `kfk quota list|set`: client quotas by user, client id or IP, where
//! the name `<default>` stands for that type's default entity.

use kafka_tokio::{Client, QuotaEntity, QuotaEntry, QuotaFilter, QuotaMatch, QuotaOp};
use serde_json::{json, Value};

use crate::outcome::Failure;

/// The name that means "the default entity of this type".
const DEFAULT: &str = "<default>";

/// The flags naming entities.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EntityArgs {
    /// A user (`<default>`: the default user).
    #[arg(long)]
    pub user: Option<String>,
    /// A client id (`<default>`: the default client id).
    #[arg(long = "client-id")]
    pub client_id: Option<String>,
    /// An IP address (`<default>`: the default IP).
    #[arg(long)]
    pub ip: Option<String>,
}

impl EntityArgs {
    fn components(&self) -> Vec<(&'static str, &str)> {
        [
            ("user", &self.user),
            ("client-id", &self.client_id),
            ("ip", &self.ip),
        ]
        .into_iter()
        .filter_map(|(t, n)| n.as_deref().map(|n| (t, n)))
        .collect()
    }

    /// The entity to change: at least one flag is required.
    pub fn entity(&self) -> Result<QuotaEntity, String> {
        let parts = self.components();
        if parts.is_empty() {
            return Err("name the entity with --user, --client-id or --ip".into());
        }
        Ok(parts.into_iter().fold(QuotaEntity::new(), |e, (t, n)| {
            e.with(t, (n != DEFAULT).then(|| n.to_string()))
        }))
    }

    /// The filter to list by: every quota with no flags.
    pub fn filter(&self) -> QuotaFilter {
        self.components()
            .into_iter()
            .fold(QuotaFilter::any(), |f, (t, n)| {
                let m = if n == DEFAULT {
                    QuotaMatch::Default
                } else {
                    QuotaMatch::Exact(n.to_string())
                };
                f.with(t, m)
            })
    }
}

/// The changes of `kfk quota set`, checked before anything is sent.
pub fn ops(set: &[String], remove: &[String]) -> Result<Vec<QuotaOp>, String> {
    let mut ops = Vec::new();
    for s in set {
        let (k, v) = s
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| format!("--set {s}: expected KEY=VALUE"))?;
        let v: f64 = v
            .parse()
            .map_err(|_| format!("--set {s}: {v} is not a number"))?;
        ops.push(QuotaOp::Set(k.to_string(), v));
    }
    ops.extend(remove.iter().map(|k| QuotaOp::Remove(k.clone())));
    if ops.is_empty() {
        return Err("give --set KEY=VALUE or --remove KEY".into());
    }
    Ok(ops)
}

/// Applies the changes to one entity; the broker's refusal is the error.
pub async fn set(
    client: &Client,
    entity: QuotaEntity,
    ops: Vec<QuotaOp>,
    validate_only: bool,
) -> Result<(), Failure> {
    let done = client
        .alter_client_quotas([(entity.clone(), ops)], validate_only)
        .await
        .map_err(crate::error_line)?;
    match done.first() {
        Some(o) if o.error.is_error() => Err(Failure::refused(&entity, o.error, &o.message)),
        Some(_) => Ok(()),
        None => Err(format!("{entity}: no answer").into()),
    }
}

/// One quota per line, in aligned columns.
pub fn to_text(entries: &[QuotaEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .flat_map(|e| {
            e.values
                .iter()
                .map(move |(k, v)| vec![e.entity.to_string(), k.clone(), v.to_string()])
        })
        .collect();
    crate::table::render(&["ENTITY", "QUOTA", "VALUE"], &rows)
}

pub fn to_json(entries: &[QuotaEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                json!({
                    "entity": e.entity.components,
                    "quotas": e.values,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_entities_filters_and_changes() {
        let args = EntityArgs {
            user: Some("alice".into()),
            client_id: Some(DEFAULT.into()),
            ip: None,
        };
        let e = args.entity().unwrap();
        assert_eq!(
            e,
            QuotaEntity::new()
                .with_user("alice")
                .with("client-id", None)
        );
        assert_eq!(
            args.filter(),
            QuotaFilter::any()
                .with("user", QuotaMatch::Exact("alice".into()))
                .with("client-id", QuotaMatch::Default)
        );
        assert!(EntityArgs::default().entity().is_err());
        assert_eq!(EntityArgs::default().filter(), QuotaFilter::any());
        assert!(ops(&["a=x".into()], &[])
            .unwrap_err()
            .contains("not a number"));
        assert!(ops(&[], &[]).is_err());
        assert_eq!(
            ops(&["a=1.5".into()], &["b".into()]).unwrap(),
            vec![QuotaOp::Set("a".into(), 1.5), QuotaOp::Remove("b".into())]
        );
    }
}
