//! Prints what kafka-proto covers: one line per API key with its name,
//! lowest and highest version, and first flexible version (`-` if none),
//! then a summary line computed from the same table.

use kafka_proto::ApiKey;

fn main() {
    let mut pairs = 0;
    for &key in ApiKey::ALL {
        let versions = key.versions();
        pairs += versions.clone().count();
        let flexible = key
            .flexible_from()
            .map_or_else(|| "-".to_string(), |v| v.to_string());
        println!(
            "{} {} {} {} {}",
            key.id(),
            key.name(),
            versions.start(),
            versions.end(),
            flexible
        );
    }
    println!(
        "coverage: {} keys, {} version pairs",
        ApiKey::ALL.len(),
        pairs
    );
}
