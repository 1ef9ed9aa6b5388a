//! One partition's log: stored v2 batches with their offsets.

use bytes::Bytes;
use kafka_proto::record::{Batches, Record};

/// A batch as stored: its bytes (offsets already assigned) and the facts
/// Fetch, ListOffsets and transactions need without re-parsing.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub(crate) base_offset: i64,
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) control: bool,
    pub(crate) bytes: Bytes,
}

/// An aborted transaction's span in a partition, for Fetch responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
}

#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    pub(crate) batches: Vec<StoredBatch>,
    /// First offset still readable (DeleteRecords and retention move it).
    pub(crate) log_start: i64,
    /// Next offset to assign; with acks the high watermark equals it.
    pub(crate) next_offset: i64,
    pub(crate) bytes: usize,
    /// First offset of each open transaction, by producer id.
    pub(crate) open_txns: Vec<(i64, i64)>,
    pub(crate) aborted: Vec<AbortedTxn>,
}

impl PartitionLog {
    pub(crate) fn high_watermark(&self) -> i64 {
        self.next_offset
    }

    /// Offsets below this are decided: no open transaction starts before it.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .iter()
            .map(|&(_, first)| first)
            .min()
            .unwrap_or(self.next_offset)
    }

    pub(crate) fn append(&mut self, batch: StoredBatch, retention_bytes: usize) {
        self.next_offset = batch.last_offset + 1;
        self.bytes += batch.bytes.len();
        self.batches.push(batch);
        // Retention: drop whole batches from the front, never the last one.
        while self.bytes > retention_bytes && self.batches.len() > 1 {
            let old = self.batches.remove(0);
            self.bytes -= old.bytes.len();
            self.log_start = self.log_start.max(old.last_offset + 1);
        }
        self.aborted.retain(|a| a.last_offset >= self.log_start);
    }

    /// Index of the first batch holding `offset` or later.
    pub(crate) fn batch_index_from(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.last_offset < offset)
    }

    /// Moves the log start forward to `offset` (DeleteRecords).
    pub(crate) fn truncate_before(&mut self, offset: i64) {
        self.log_start = self.log_start.max(offset.min(self.next_offset));
        let keep_from = self
            .batches
            .partition_point(|b| b.last_offset < self.log_start);
        for b in self.batches.drain(..keep_from) {
            self.bytes -= b.bytes.len();
        }
        self.aborted.retain(|a| a.last_offset >= self.log_start);
    }

    /// The first record at or after the log start whose timestamp is at
    /// least `ts`: its offset and timestamp (ListOffsets by time). Like
    /// Kafka, this looks inside the batch, not just at its max timestamp.
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64)> {
        self.batches
            .iter()
            .filter(|b| b.max_timestamp >= ts && !b.control && b.last_offset >= self.log_start)
            .find_map(|b| {
                let start = self.log_start;
                b.first_record(|r| r.offset >= start && r.timestamp >= ts)
            })
    }

    /// The offset and timestamp of the first record carrying the largest
    /// timestamp (ListOffsets MAX_TIMESTAMP, KIP-734).
    pub(crate) fn max_timestamp(&self) -> Option<(i64, i64)> {
        let readable = || {
            self.batches
                .iter()
                .filter(|b| !b.control && b.last_offset >= self.log_start)
        };
        let max = readable().map(|b| b.max_timestamp).max()?;
        let start = self.log_start;
        readable()
            .filter(|b| b.max_timestamp == max)
            .find_map(|b| b.first_record(|r| r.offset >= start && r.timestamp >= max))
    }
}

impl StoredBatch {
    /// Offset and timestamp of the first record matching `pred`. A batch
    /// that does not decode (never expected: it was validated on append)
    /// answers with its last offset and max timestamp rather than nothing.
    fn first_record(&self, pred: impl Fn(&Record) -> bool) -> Option<(i64, i64)> {
        let fallback = Some((self.last_offset, self.max_timestamp));
        let Some(Ok(batch)) = Batches::new(self.bytes.clone()).next() else {
            return fallback;
        };
        let Ok(records) = batch.records() else {
            return fallback;
        };
        for record in records {
            match record {
                Ok(r) if pred(&r) => return Some((r.offset, r.timestamp)),
                Ok(_) => {}
                Err(_) => return fallback,
            }
        }
        None
    }
}
