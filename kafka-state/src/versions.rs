//! API version negotiation: per API, the highest version both this client
//! and the broker support, skipping unstable versions and versions too old
//! to use.

use std::collections::BTreeMap;

use kafka_proto::messages::api_versions_response::ApiVersion;
use kafka_proto::ApiKey;

/// The ApiVersions version a new connection tries first.
pub(crate) fn api_versions_version() -> i16 {
    *ApiKey::ApiVersions.versions().end()
}

/// The oldest version of `key` this client is willing to speak.
///
/// Produce below v3 and Fetch below v4 predate record batches v2 (and
/// Fetch v4 adds the isolation level), so they are never used.
pub(crate) fn min_usable(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 3,
        ApiKey::Fetch => 4,
        _ => *key.versions().start(),
    }
}

/// The versions negotiated with one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VersionTable {
    versions: BTreeMap<ApiKey, i16>,
}

impl VersionTable {
    /// Intersects what the broker advertises with what this client knows.
    /// Unknown API keys and inverted ranges are ignored.
    pub(crate) fn negotiate(broker: &[ApiVersion]) -> Self {
        let mut versions = BTreeMap::new();
        for v in broker {
            let Ok(key) = ApiKey::try_from(v.api_key) else {
                continue;
            };
            if let Some(best) = best_common(key, v.min_version, v.max_version) {
                versions.insert(key, best);
            }
        }
        Self { versions }
    }

    /// The version to use for `key`, if there is one.
    pub(crate) fn get(&self, key: ApiKey) -> Option<i16> {
        self.versions.get(&key).copied()
    }
}

/// The highest version of `key` in both ranges that is stable and usable.
pub(crate) fn best_common(key: ApiKey, broker_min: i16, broker_max: i16) -> Option<i16> {
    let ours = key.versions();
    let lo = broker_min.max(*ours.start()).max(min_usable(key));
    let hi = broker_max.min(*ours.end());
    (lo..=hi).rev().find(|&v| !key.is_unstable(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(key.id())
            .with_min_version(min)
            .with_max_version(max)
    }

    #[test]
    fn picks_the_highest_common_version() {
        let ours_max = *ApiKey::Metadata.versions().end();
        let t = VersionTable::negotiate(&[
            // Broker newer than us: our max.
            v(ApiKey::Metadata, 0, ours_max + 5),
            // Broker older than us: its max.
            v(ApiKey::CreateTopics, 0, 2),
            // Overlap in the middle.
            v(ApiKey::DeleteTopics, 1, 3),
        ]);
        assert_eq!(t.get(ApiKey::Metadata), Some(ours_max));
        assert_eq!(t.get(ApiKey::CreateTopics), Some(2));
        assert_eq!(t.get(ApiKey::DeleteTopics), Some(3));
        // Not advertised: nothing.
        assert_eq!(t.get(ApiKey::Fetch), None);
    }

    #[test]
    fn never_an_unstable_version() {
        // InitProducerId v6 is unstable in the schemas this crate knows.
        assert!(ApiKey::InitProducerId.is_unstable(6));
        let t = VersionTable::negotiate(&[v(ApiKey::InitProducerId, 0, 6)]);
        assert_eq!(t.get(ApiKey::InitProducerId), Some(5));
        // Only an unstable version in common: none.
        let t = VersionTable::negotiate(&[v(ApiKey::InitProducerId, 6, 6)]);
        assert_eq!(t.get(ApiKey::InitProducerId), None);
    }

    #[test]
    fn never_produce_below_3() {
        let t = VersionTable::negotiate(&[v(ApiKey::Produce, 0, 2), v(ApiKey::Fetch, 0, 3)]);
        assert_eq!(t.get(ApiKey::Produce), None);
        assert_eq!(t.get(ApiKey::Fetch), None);
        let t = VersionTable::negotiate(&[v(ApiKey::Produce, 0, 3)]);
        assert_eq!(t.get(ApiKey::Produce), Some(3));
    }

    #[test]
    fn ignores_unknown_keys_and_nonsense_ranges() {
        let t = VersionTable::negotiate(&[
            ApiVersion::default()
                .with_api_key(i16::MAX)
                .with_min_version(0)
                .with_max_version(3),
            v(ApiKey::Metadata, 9, 2),
            v(ApiKey::ApiVersions, -5, -1),
        ]);
        assert_eq!(t, VersionTable::default());
    }
}
