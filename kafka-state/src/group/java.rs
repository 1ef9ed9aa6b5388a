//! What it takes to reproduce the Java client's choices exactly.
//!
//! The Java assignors walk `HashMap`s and `HashSet`s, so where iteration
//! order decides an outcome (which member keeps its extra partition, which
//! of two equal claims wins) the result follows Java's hash layout. This
//! module models the parts of `java.util.HashMap` that decide its
//! iteration order, Java's `String.hashCode` and `compareTo` (UTF-16 code
//! units, not UTF-8 bytes), and `TopicPartition.hashCode`.

use std::cmp::Ordering;

/// Java's `String.hashCode`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16
/// code units, wrapping.
pub(crate) fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units.
pub(crate) fn cmp_str(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A string ordered the way Java's `compareTo` orders it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct JavaString(pub(crate) String);

impl Ord for JavaString {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_str(&self.0, &other.0)
    }
}

impl PartialOrd for JavaString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A key whose Java `hashCode` is known.
pub(crate) trait JavaHash {
    /// The value Java's `hashCode()` returns.
    fn java_hash(&self) -> i32;
}

impl JavaHash for String {
    fn java_hash(&self) -> i32 {
        string_hash(self)
    }
}

/// `org.apache.kafka.common.TopicPartition`, hashed as Java hashes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Tp {
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

impl Tp {
    pub(crate) fn new(topic: &str, partition: i32) -> Self {
        Tp {
            topic: topic.to_owned(),
            partition,
        }
    }
}

impl JavaHash for Tp {
    fn java_hash(&self) -> i32 {
        // 31 * (31 * 1 + partition) + topic.hashCode()
        31i32
            .wrapping_add(self.partition)
            .wrapping_mul(31)
            .wrapping_add(string_hash(&self.topic))
    }
}

/// Orders topic-partitions by topic (Java string order), then partition.
pub(crate) fn cmp_tp_topic_first(a: &Tp, b: &Tp) -> Ordering {
    cmp_str(&a.topic, &b.topic).then(a.partition.cmp(&b.partition))
}

/// A map that iterates in the order `java.util.HashMap` would for the same
/// sequence of insertions and removals: by bucket (the spread hash masked
/// by the table size), then by insertion within a bucket. Tree bins
/// (eight or more keys in one bucket of a table of 64 or more) are not
/// modelled; they do not arise at group sizes.
#[derive(Debug, Clone)]
pub(crate) struct JavaHashMap<K, V> {
    table: Vec<Vec<(K, V)>>,
    /// The capacity the first insertion allocates.
    initial: usize,
    len: usize,
}

const MAX_CAPACITY: usize = 1 << 30;

fn spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

impl<K: JavaHash + Eq, V> JavaHashMap<K, V> {
    /// `new HashMap<>()`: a table of 16 on first insertion.
    pub(crate) fn new() -> Self {
        Self::with_initial(16)
    }

    fn with_initial(initial: usize) -> Self {
        JavaHashMap {
            table: Vec::new(),
            initial,
            len: 0,
        }
    }

    fn bucket(&self, key: &K) -> usize {
        (spread(key.java_hash()) as usize) & (self.table.len() - 1)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `put`: replaces the value in place when the key is present.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if self.table.is_empty() {
            self.table = (0..self.initial).map(|_| Vec::new()).collect();
        }
        let b = self.bucket(&key);
        if let Some(slot) = self.table[b].iter_mut().find(|(k, _)| *k == key) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.table[b].push((key, value));
        self.len += 1;
        // Java resizes after the insertion once size exceeds 3/4 of the table.
        if self.len > self.table.len() / 4 * 3 && self.table.len() < MAX_CAPACITY {
            self.grow();
        }
        None
    }

    /// `computeIfAbsent`: a new key goes to the front of its bucket, and
    /// the table grows before an insertion finds it over-full, not after.
    pub(crate) fn entry_front(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if self.table.is_empty() {
            self.table = (0..self.initial).map(|_| Vec::new()).collect();
        } else if self.len > self.table.len() / 4 * 3 && self.table.len() < MAX_CAPACITY {
            self.grow();
        }
        let b = self.bucket(&key);
        let pos = match self.table[b].iter().position(|(k, _)| *k == key) {
            Some(pos) => pos,
            None => {
                self.table[b].insert(0, (key, make()));
                self.len += 1;
                0
            }
        };
        &mut self.table[b][pos].1
    }

    /// Doubles the table; each bucket splits in two, keeping its order.
    fn grow(&mut self) {
        let new_len = self.table.len() * 2;
        let old = std::mem::take(&mut self.table);
        self.table = (0..new_len).map(|_| Vec::new()).collect();
        for bucket in old {
            for (k, v) in bucket {
                let b = (spread(k.java_hash()) as usize) & (new_len - 1);
                self.table[b].push((k, v));
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        if self.table.is_empty() {
            return None;
        }
        let b = self.bucket(key);
        let pos = self.table[b].iter().position(|(k, _)| k == key)?;
        self.len -= 1;
        Some(self.table[b].remove(pos).1)
    }

    /// Entries in Java's iteration order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.table.iter().flatten().map(|(k, v)| (k, v))
    }

    /// Keys in Java's iteration order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }
}

/// `java.util.HashSet`: a [`JavaHashMap`] without values.
pub(crate) type JavaHashSet<K> = JavaHashMap<K, ()>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values from Java's "abc".hashCode() and friends.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("abc"), 96354);
        assert_eq!(string_hash("hello"), 99_162_322);
        assert_eq!(string_hash("Aa"), string_hash("BB"));
        // A non-BMP character hashes as its two surrogates.
        assert_eq!(string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn compare_follows_utf16() {
        // U+FF61 sorts after U+1F600 in UTF-8 but before it in UTF-16.
        assert_eq!(cmp_str("\u{FF61}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(cmp_str("a", "b"), Ordering::Less);
    }

    #[test]
    fn iteration_is_by_bucket_then_insertion() {
        let mut m = JavaHashMap::new();
        // "Aa" and "BB" share a hash, so they share a bucket.
        for k in ["BB", "b", "Aa", "a"] {
            m.insert(k.to_string(), ());
        }
        let order: Vec<_> = m.keys().cloned().collect();
        // 'a' = 97 -> bucket 1, 'b' = 98 -> bucket 2, "Aa"/"BB" = 2112 -> bucket 0.
        assert_eq!(order, ["BB", "Aa", "a", "b"]);
        assert_eq!(m.remove(&"BB".to_string()), Some(()));
        assert_eq!(m.keys().next().map(String::as_str), Some("Aa"));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn compute_if_absent_inserts_at_bucket_front() {
        let mut m: JavaHashMap<String, Vec<i32>> = JavaHashMap::new();
        m.entry_front("Aa".into(), Vec::new).push(1);
        m.entry_front("BB".into(), Vec::new).push(2);
        m.entry_front("Aa".into(), Vec::new).push(3);
        let order: Vec<_> = m.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(order, [("BB", vec![2]), ("Aa", vec![1, 3])]);
    }

    #[test]
    fn growth_keeps_bucket_order() {
        let mut m = JavaHashMap::new();
        let keys: Vec<String> = (0..40).map(|i| format!("member-{i}")).collect();
        for k in &keys {
            m.insert(k.clone(), ());
        }
        assert_eq!(m.table.len(), 64);
        let buckets: Vec<usize> = m.keys().map(|k| m.bucket(k)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(m.len(), 40);
    }
}
