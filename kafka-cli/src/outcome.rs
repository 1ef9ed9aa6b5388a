//! What a command that changes the cluster did, item by item: the JSON
//! of its `--json` (each item's fields, then `error`, the Kafka error's
//! name or null, and `message`) and the one line a refusal fails with.

use kafka_tokio::ErrorCode;
use serde_json::{json, Value};

/// Why a change was not made.
#[derive(Debug)]
pub enum Failure {
    /// The broker refused the item with an error code; `line` is what
    /// the command fails with.
    Refused {
        code: ErrorCode,
        message: Option<String>,
        line: String,
    },
    /// Anything else: nothing reached a broker, or no answer came.
    Other(String),
}

impl Failure {
    /// A refusal of `what`: `what: NAME (code): description[: message]`.
    pub fn refused(
        what: &dyn std::fmt::Display,
        code: ErrorCode,
        message: &Option<String>,
    ) -> Self {
        let line = match message {
            Some(m) if !m.is_empty() => format!("{what}: {code}: {m}"),
            _ => format!("{what}: {code}"),
        };
        Failure::Refused {
            code,
            message: message.clone(),
            line,
        }
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Other(e)
    }
}

impl From<Failure> for String {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused { line, .. } | Failure::Other(line) => line,
        }
    }
}

/// `item` (an object) with `error` and `message` added.
pub fn with_error(item: Value, code: ErrorCode, message: &Option<String>) -> Value {
    let mut item = item;
    if let Value::Object(fields) = &mut item {
        fields.insert("error".into(), json!(code.is_error().then(|| code.name())));
        fields.insert("message".into(), json!(message));
    }
    item
}

/// Prints `items` as one JSON array.
pub fn print_items(items: impl IntoIterator<Item = Value>) {
    println!("{}", Value::Array(items.into_iter().collect()));
}

/// With `json`, prints `[item]` with the outcome's error (null when the
/// change was made, the error's name when the broker refused it); then
/// hands the result on, a refusal as its one line. A failure that is not
/// a refusal prints no JSON.
pub fn report<T>(json: bool, item: Value, result: Result<T, Failure>) -> Result<T, String> {
    if json {
        let printed = match &result {
            Ok(_) => Some(with_error(item, ErrorCode::None, &None)),
            Err(Failure::Refused { code, message, .. }) => Some(with_error(item, *code, message)),
            Err(Failure::Other(_)) => None,
        };
        if let Some(v) = printed {
            print_items([v]);
        }
    }
    result.map_err(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_carry_the_error_name_or_null() {
        let ok = with_error(json!({"a": 1}), ErrorCode::None, &None);
        assert_eq!(ok, json!({"a": 1, "error": null, "message": null}));
        let refused = Failure::refused(
            &"topic t",
            ErrorCode::InvalidPartitions,
            &Some("too few".into()),
        );
        let line = String::from(refused);
        assert!(line.starts_with("topic t: INVALID_PARTITIONS"), "{line}");
        assert!(line.ends_with(": too few"), "{line}");
        assert!(!line.contains('\n'));
        let v = with_error(json!({}), ErrorCode::InvalidPartitions, &None);
        assert_eq!(v["error"], "INVALID_PARTITIONS");
    }
}
