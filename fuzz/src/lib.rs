//! Helpers shared by the kafka-proto fuzz targets and the seed generator.

use std::fmt::Debug;

use kafka_proto::ApiKey;

/// Splits a `response_frame` input into the API key, version and frame.
///
/// Byte 0 indexes [`ApiKey::ALL`] (modulo its length); bytes 1-2, big-endian,
/// pick the version (modulo the number of versions of that key). Returns
/// `None` for inputs shorter than 3 bytes.
pub fn split_response_input(data: &[u8]) -> Option<(ApiKey, i16, &[u8])> {
    let (sel, frame) = data.split_first_chunk::<3>()?;
    let key = ApiKey::ALL[usize::from(sel[0]) % ApiKey::ALL.len()];
    let versions = key.versions();
    let count = i32::from(*versions.end()) - i32::from(*versions.start()) + 1;
    let offset = i32::from(u16::from_be_bytes([sel[1], sel[2]])) % count;
    let version = i16::try_from(i32::from(*versions.start()) + offset).ok()?;
    Some((key, version, frame))
}

/// The 3 selector bytes that [`split_response_input`] maps to `key` and `version`.
pub fn response_selector(key: ApiKey, version: i16) -> [u8; 3] {
    let index = ApiKey::ALL
        .iter()
        .position(|&k| k == key)
        .expect("key in ApiKey::ALL");
    let offset = u16::try_from(version - key.versions().start()).expect("version in range");
    let [hi, lo] = offset.to_be_bytes();
    [u8::try_from(index).expect("fewer than 256 keys"), hi, lo]
}

/// Equality for round-trip checks: `==`, or failing that identical `Debug`
/// output, so that a NaN `float64` (which is never `==` to itself) that
/// survives the round trip bit-for-bit-printably is not reported as a bug.
pub fn same<T: PartialEq + Debug>(a: &T, b: &T) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}
