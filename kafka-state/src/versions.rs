//! API version negotiation: per API, the highest version both this client
//! and the broker support, skipping unstable versions and versions too old
//! to use.

use std::collections::BTreeMap;

use kafka_proto::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey};
use kafka_proto::ApiKey;

/// The last version of each API before transaction v2 (KIP-890 part 2):
/// the versions past these implicitly add partitions to a transaction
/// (Produce, TxnOffsetCommit) and bump the epoch on every end (EndTxn),
/// which a broker only does right when the cluster has
/// `transaction.version` 2 finalized.
const BEFORE_TRANSACTION_V2: [(ApiKey, i16); 3] = [
    (ApiKey::Produce, 11),
    (ApiKey::TxnOffsetCommit, 4),
    (ApiKey::EndTxn, 4),
];

/// AddPartitionsToTxn v4 and later are the brokers' batched form
/// (KIP-890 part 1); clients speak v3 at most.
const CLIENT_ADD_PARTITIONS_MAX: i16 = 3;

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
    /// The finalized `transaction.version` feature level (0 when absent).
    transaction_version: i16,
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
        if let Some(v) = versions.get_mut(&ApiKey::AddPartitionsToTxn) {
            *v = (*v).min(CLIENT_ADD_PARTITIONS_MAX);
        }
        Self {
            versions,
            transaction_version: 0,
        }
    }

    /// Takes in the cluster's finalized features: below
    /// `transaction.version` 2 the APIs whose newer versions mean
    /// transaction v2 stay at the last version before it, as the Java
    /// client keeps them.
    pub(crate) fn with_features(mut self, features: &[FinalizedFeatureKey]) -> Self {
        self.transaction_version = features
            .iter()
            .find(|f| f.name == "transaction.version")
            .map_or(0, |f| f.max_version_level.max(0));
        if self.transaction_version < 2 {
            for (key, last) in BEFORE_TRANSACTION_V2 {
                if let Some(v) = self.versions.get_mut(&key) {
                    *v = (*v).min(last);
                }
            }
        }
        self
    }

    /// The finalized `transaction.version` feature level.
    pub(crate) fn transaction_version(&self) -> i16 {
        self.transaction_version
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
    fn transaction_v2_versions_need_the_finalized_feature() {
        let broker = [
            v(ApiKey::Produce, 3, 12),
            v(ApiKey::EndTxn, 0, 5),
            v(ApiKey::TxnOffsetCommit, 0, 5),
            v(ApiKey::AddPartitionsToTxn, 0, 5),
        ];
        let feature = |level| {
            vec![FinalizedFeatureKey::default()
                .with_name("transaction.version".into())
                .with_max_version_level(level)]
        };
        let old = VersionTable::negotiate(&broker).with_features(&feature(1));
        assert_eq!(old.transaction_version(), 1);
        assert_eq!(old.get(ApiKey::Produce), Some(11));
        assert_eq!(old.get(ApiKey::EndTxn), Some(4));
        assert_eq!(old.get(ApiKey::TxnOffsetCommit), Some(4));
        let none = VersionTable::negotiate(&broker).with_features(&[]);
        assert_eq!(none.transaction_version(), 0);
        assert_eq!(none.get(ApiKey::Produce), Some(11));
        let v2 = VersionTable::negotiate(&broker).with_features(&feature(2));
        assert_eq!(v2.transaction_version(), 2);
        assert_eq!(v2.get(ApiKey::Produce), Some(12));
        assert_eq!(v2.get(ApiKey::EndTxn), Some(5));
        assert_eq!(v2.get(ApiKey::TxnOffsetCommit), Some(5));
        // The brokers' batched form is never used, whatever the feature.
        assert_eq!(v2.get(ApiKey::AddPartitionsToTxn), Some(3));
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
