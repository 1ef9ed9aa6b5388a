//! `kfk user list|set-scram|delete-scram`: users' SCRAM credentials.

use kafka_tokio::{Client, ScramChange, ScramMechanism, UserScramCredentials};
use serde_json::{json, Value};

use crate::outcome::Failure;

/// The mechanism named on the command line.
pub fn mechanism(name: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::parse(name)
        .ok_or_else(|| format!("--mechanism {name}: expected SCRAM-SHA-256 or SCRAM-SHA-512"))
}

/// Every user's credentials (or the named users'), failing on the first
/// user the broker could not describe.
pub async fn list(client: &Client, users: &[String]) -> Result<Vec<UserScramCredentials>, String> {
    let described = client
        .describe_user_scram_credentials(users.iter().cloned())
        .await
        .map_err(crate::error_line)?;
    if let Some(u) = described.iter().find(|u| u.error.is_error()) {
        return Err(match &u.message {
            Some(m) if !m.is_empty() => format!("user {}: {}: {m}", u.user, u.error),
            _ => format!("user {}: {}", u.user, u.error),
        });
    }
    Ok(described)
}

/// Applies one change; the broker's refusal is the error.
pub async fn alter(client: &Client, change: ScramChange) -> Result<(), Failure> {
    let user = change.user().to_string();
    let done = client
        .alter_user_scram_credentials([change])
        .await
        .map_err(crate::error_line)?;
    match done.first() {
        Some(o) if o.error.is_error() => Err(Failure::refused(
            &format!("user {user}"),
            o.error,
            &o.message,
        )),
        Some(_) => Ok(()),
        None => Err(format!("user {user}: no answer").into()),
    }
}

/// One credential per line, in aligned columns.
pub fn to_text(users: &[UserScramCredentials]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .flat_map(|u| {
            u.credentials.iter().map(move |c| {
                vec![
                    u.user.clone(),
                    c.mechanism.name().to_string(),
                    c.iterations.to_string(),
                ]
            })
        })
        .collect();
    crate::table::render(&["USER", "MECHANISM", "ITERATIONS"], &rows)
}

pub fn to_json(users: &[UserScramCredentials]) -> Value {
    Value::Array(
        users
            .iter()
            .map(|u| {
                json!({
                    "user": u.user,
                    "credentials": u.credentials.iter().map(|c| json!({
                        "mechanism": c.mechanism.name(),
                        "iterations": c.iterations,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}
