//! proptest strategies for every message, per version (feature `proptest`).
//!
//! A value generated for a version holds, for each field that version
//! lacks, the field's default, so it round-trips through that version.

use bytes::Bytes;
use proptest::prelude::*;

use crate::codec::{UnknownTaggedFields, Uuid};

/// Types that can generate arbitrary values valid in a given version.
pub trait ArbitraryVersioned: Sized + std::fmt::Debug {
    /// A strategy for values that encode in `version`.
    fn arbitrary(version: i16) -> BoxedStrategy<Self>;
}

/// Short strings, including non-ASCII characters.
pub fn string() -> BoxedStrategy<String> {
    "[a-zA-Z0-9._\\-é€ ]{0,12}".boxed()
}

/// Short byte strings.
pub fn bytes() -> BoxedStrategy<Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24)
        .prop_map(Bytes::from)
        .boxed()
}

/// Any UUID.
pub fn uuid() -> BoxedStrategy<Uuid> {
    any::<[u8; 16]>().prop_map(Uuid).boxed()
}

/// Finite floats (NaN would break equality checks).
pub fn float64() -> BoxedStrategy<f64> {
    prop_oneof![Just(0.0), -1.0e12..1.0e12f64].boxed()
}

/// Unknown tagged fields with tags far above any Kafka uses, in flexible versions.
pub fn unknown_tagged_fields(flexible: bool) -> BoxedStrategy<UnknownTaggedFields> {
    if flexible {
        proptest::collection::btree_map(1000u32..1010, bytes(), 0..2).boxed()
    } else {
        Just(UnknownTaggedFields::new()).boxed()
    }
}
