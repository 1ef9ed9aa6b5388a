//! `kfk user list|set-scram|delete-scram`: users' SCRAM credentials.

use kafka_tokio::{Client, ScramChange, ScramMechanism, UserScramCredentials};
use serde_json::{json, Value};

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
        .map_err(|e| e.to_string())?;
    if let Some(u) = described.iter().find(|u| u.error.is_error()) {
        return Err(match &u.message {
            Some(m) if !m.is_empty() => format!("user {}: {}: {m}", u.user, u.error),
            _ => format!("user {}: {}", u.user, u.error),
        });
    }
    Ok(described)
}

/// Applies one change; the broker's refusal is the error.
pub async fn alter(client: &Client, change: ScramChange) -> Result<(), String> {
    let user = change.user().to_string();
    let done = client
        .alter_user_scram_credentials([change])
        .await
        .map_err(|e| e.to_string())?;
    match done.first() {
        Some(o) if o.error.is_error() => Err(match &o.message {
            Some(m) if !m.is_empty() => format!("user {user}: {}: {m}", o.error),
            _ => format!("user {user}: {}", o.error),
        }),
        Some(_) => Ok(()),
        None => Err(format!("user {user}: no answer")),
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
