//! Fetched data: the scan that runs once when a partition's data arrives
//! (CRCs, positions, aborted transactions, control batches) and the lazy,
//! zero-copy iteration the application runs later.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::{ControlFlow, Range};
use std::sync::Arc;

use bytes::Bytes;
use kafka_proto::messages::fetch_response::AbortedTransaction;
use kafka_proto::record::{
    Batches, ControlRecord, DecodeOptions, Headers, HeadersRef, Record, RecordData, Records,
    RefsPosition, TimestampType,
};
use kafka_proto::DecodeError;

use crate::TopicPartition;

/// One record as the application reads it. Key, value and header values
/// are slices of the fetch response (or of the buffer a compressed batch
/// inflated into): reading a record copies no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerRecord {
    /// The topic, shared by every record of one [`FetchedRecords`].
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Milliseconds since the Unix epoch; what it means depends on
    /// `timestamp_type`.
    pub timestamp: i64,
    /// Create time or log-append time.
    pub timestamp_type: TimestampType,
    /// The leader epoch the broker stamped on the batch, if any; a group
    /// member commits it with the offset.
    pub leader_epoch: Option<i32>,
    /// The key; `None` for a null key.
    pub key: Option<Bytes>,
    /// The value; `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, parsed while iterated.
    pub headers: Headers,
}

/// What the scan of one partition's data found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Byte ranges of `data` holding batches the application may see.
    pub(crate) visible: Vec<Range<usize>>,
    /// The position after the last complete batch at or past the start.
    pub(crate) next_offset: Option<i64>,
    /// A batch that failed to decode (bad CRC, impossible header): its
    /// base offset (as far as it can be read) and the error.
    pub(crate) corrupt: Option<(i64, DecodeError)>,
    /// The data held only an incomplete batch of this many bytes: the
    /// partition's fetch size is too small for it.
    pub(crate) needs_bytes: Option<usize>,
}

/// Walks the batches of `data` (headers and CRCs only; records stay
/// encoded) and decides which the application sees: not those wholly
/// before `start`, not control batches, and under read_committed
/// (`aborted` is `Some`) not the batches of aborted transactions.
///
/// Aborted transactions follow the Fetch response's list: a producer's
/// transactional batches are dropped from the first offset the list gives
/// for it until its ABORT marker.
pub(crate) fn scan(
    data: &Bytes,
    start: i64,
    aborted: Option<&[AbortedTransaction]>,
    options: DecodeOptions,
) -> Scan {
    let mut out = Scan::default();
    let mut pending: Vec<(i64, i64)> = aborted
        .unwrap_or_default()
        .iter()
        .map(|a| (a.first_offset, a.producer_id))
        .collect();
    pending.sort_unstable();
    let mut pending = pending.into_iter().peekable();
    let mut aborting: BTreeSet<i64> = BTreeSet::new();
    let total = data.len();
    let mut batches = Batches::with_options(data.clone(), options);
    loop {
        let before = total - batches.remaining().len();
        let batch = match batches.next() {
            None => {
                if batches.is_truncated() && out.next_offset.is_none() {
                    out.needs_bytes = Some(declared_len(batches.remaining()));
                }
                break;
            }
            Some(Err(e)) => {
                // The base offset as far as it can be read; never before
                // the records handed out, so a seek past it moves forward.
                let offset = data
                    .get(before..before + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(start, i64::from_be_bytes)
                    .max(out.next_offset.unwrap_or(start));
                out.corrupt = Some((offset, e));
                break;
            }
            Some(Ok(b)) => b,
        };
        let after = total - batches.remaining().len();
        let h = *batch.header();
        if h.last_offset() < start {
            continue;
        }
        out.next_offset = Some(
            out.next_offset
                .map_or(h.next_offset(), |n| n.max(h.next_offset())),
        );
        if aborted.is_some() && h.producer_id >= 0 {
            while let Some(&(first, pid)) = pending.peek() {
                if first > h.last_offset() {
                    break;
                }
                aborting.insert(pid);
                pending.next();
            }
            if h.is_control() {
                if is_abort_marker(&batch) {
                    aborting.remove(&h.producer_id);
                }
                continue;
            }
            if h.is_transactional() && aborting.contains(&h.producer_id) {
                continue;
            }
        }
        if h.is_control() {
            continue;
        }
        match out.visible.last_mut() {
            Some(last) if last.end == before => last.end = after,
            _ => out.visible.push(before..after),
        }
    }
    out
}

fn is_abort_marker(batch: &kafka_proto::record::RecordBatch) -> bool {
    let Ok(mut records) = batch.records() else {
        return false;
    };
    matches!(
        records
            .next()
            .map(|r| r.map(|r| ControlRecord::from_record(&r))),
        Some(Ok(Ok(ControlRecord::Abort(_))))
    )
}

/// The size of the entry starting `partial`, from its length field.
fn declared_len(partial: &[u8]) -> usize {
    let len = partial
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, i32::from_be_bytes);
    usize::try_from(len).unwrap_or(0).saturating_add(12)
}

/// Records of one partition from one fetch, handed out by
/// [`Consumer::poll_records`](crate::consumer::Consumer::poll_records).
///
/// It holds the raw batches as a slice of the response buffer and decodes
/// records only while iterated: iterate it by reference ([`iter`](Self::iter))
/// or by value. Records before the position the fetch started at, control
/// records and (under read_committed) aborted records are skipped. Taking
/// it moved the partition's position to [`next_offset`](Self::next_offset).
#[derive(Clone)]
pub struct FetchedRecords {
    pub(crate) partition: TopicPartition,
    pub(crate) topic: Arc<str>,
    pub(crate) data: Bytes,
    pub(crate) visible: Vec<Range<usize>>,
    pub(crate) start_offset: i64,
    pub(crate) next_offset: i64,
    pub(crate) high_watermark: Option<i64>,
    pub(crate) max_decompressed_size: usize,
    /// The partition's epoch when it was handed out, so a report of a
    /// decode failure that a seek has overtaken is recognised.
    pub(crate) epoch: u64,
}

impl fmt::Debug for FetchedRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedRecords")
            .field("partition", &self.partition)
            .field("bytes", &self.data.len())
            .field("start_offset", &self.start_offset)
            .field("next_offset", &self.next_offset)
            .finish_non_exhaustive()
    }
}

impl FetchedRecords {
    /// Builds the handed-out value from a scan with visible batches.
    pub(crate) fn new(
        partition: TopicPartition,
        data: &Bytes,
        scan: &Scan,
        start_offset: i64,
        next_offset: i64,
        high_watermark: Option<i64>,
        max_decompressed_size: usize,
    ) -> Self {
        let first = scan.visible.first().map_or(0, |r| r.start);
        let last = scan.visible.last().map_or(first, |r| r.end);
        let visible = scan
            .visible
            .iter()
            .map(|r| r.start - first..r.end - first)
            .collect();
        Self {
            topic: Arc::from(partition.topic.as_str()),
            partition,
            data: data.slice(first..last),
            visible,
            start_offset,
            next_offset,
            high_watermark,
            max_decompressed_size,
            epoch: 0,
        }
    }

    /// The topic and partition.
    pub fn partition(&self) -> &TopicPartition {
        &self.partition
    }

    /// The raw record batches, a slice of the response buffer. It may
    /// include batches iteration skips (control batches, aborted
    /// transactions, records before the start offset).
    pub fn raw(&self) -> &Bytes {
        &self.data
    }

    /// The position the fetch started at: records below it are skipped.
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// The partition's position after these records.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// The partition's high watermark when it was fetched.
    pub fn high_watermark(&self) -> Option<i64> {
        self.high_watermark
    }

    /// `r`, one of these records, as the application gets it.
    #[inline]
    fn record(
        &self,
        r: Record,
        timestamp_type: TimestampType,
        leader_epoch: Option<i32>,
    ) -> ConsumerRecord {
        ConsumerRecord {
            topic: self.topic.clone(),
            partition: self.partition.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type,
            leader_epoch,
            key: r.key,
            value: r.value,
            headers: r.headers,
        }
    }

    /// Iterates the records without consuming `self`.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            records: self,
            cursor: Cursor::default(),
        }
    }
}

impl<'a> IntoIterator for &'a FetchedRecords {
    type Item = Result<ConsumerRecord, DecodeError>;
    type IntoIter = RecordIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for FetchedRecords {
    type Item = Result<ConsumerRecord, DecodeError>;
    type IntoIter = IntoRecords;

    fn into_iter(self) -> Self::IntoIter {
        IntoRecords {
            records: self,
            cursor: Cursor::default(),
        }
    }
}

/// Borrowing iterator over a [`FetchedRecords`]. A record that fails to
/// decode (a compressed batch that does not inflate, or inflates past
/// `max_decompressed_size`) yields the error after every good record
/// before it and ends the iteration. Taking the records moved the
/// position past all of them, so hand the failure back to the core with
/// [`Consumer::report_corrupt`](crate::consumer::Consumer::report_corrupt)
/// at [`resume_offset`](Self::resume_offset): it puts the position back at
/// the bad record, stops the partition and reports it with its offset.
#[derive(Debug)]
pub struct RecordIter<'a> {
    records: &'a FetchedRecords,
    cursor: Cursor,
}

impl RecordIter<'_> {
    /// The offset of the first record not yielded yet: after an error,
    /// where decoding failed (the position to report).
    pub fn resume_offset(&self) -> i64 {
        self.cursor.resume_offset(self.records)
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<ConsumerRecord, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.records)
    }
}

/// Owning iterator over a [`FetchedRecords`]; see [`RecordIter`].
#[derive(Debug)]
pub struct IntoRecords {
    records: FetchedRecords,
    cursor: Cursor,
}

impl IntoRecords {
    /// The records being iterated (partition, offsets, raw batches).
    pub fn fetched(&self) -> &FetchedRecords {
        &self.records
    }

    /// The offset of the first record not yielded yet: after an error,
    /// where decoding failed (the position to report); see [`RecordIter`].
    pub fn resume_offset(&self) -> i64 {
        self.cursor.resume_offset(&self.records)
    }
}

impl Iterator for IntoRecords {
    type Item = Result<ConsumerRecord, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(&self.records)
    }
}

impl IntoRecords {
    /// Lends the records not yet yielded to `f`, in order, until they end
    /// or `f` returns [`ControlFlow::Break`]. Nothing is allocated or
    /// reference-counted per record, which makes this the cheapest way to
    /// handle records that need not outlive the call. Lending and
    /// [`next`](Iterator::next) may be mixed: each goes on where the other
    /// stopped.
    pub fn lend<F>(&mut self, mut f: F) -> Lent
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        self.cursor.lend(&self.records, &mut f)
    }
}

/// Where an iteration is: which visible range, which batch, which record.
#[derive(Debug, Default)]
struct Cursor {
    range: usize,
    batches: Option<Batches>,
    /// The batch entered by the owning iteration.
    records: Option<(Records, TimestampType, Option<i32>)>,
    /// The batch entered by the lending iteration, and where it stands.
    lent: Option<LentBatch>,
    done: bool,
    /// The offset after the last record yielded, or the base offset of a
    /// v2 batch entered since (legacy wrappers name their last offset, so
    /// theirs is not used).
    resume: Option<i64>,
}

#[derive(Debug)]
struct LentBatch {
    data: RecordData,
    at: RefsPosition,
    timestamp_type: TimestampType,
    leader_epoch: Option<i32>,
}

impl Cursor {
    fn resume_offset(&self, fr: &FetchedRecords) -> i64 {
        self.resume
            .map_or(fr.start_offset, |r| r.max(fr.start_offset))
    }

    fn next(&mut self, fr: &FetchedRecords) -> Option<Result<ConsumerRecord, DecodeError>> {
        while !self.done {
            if let Some((records, ts_type, epoch)) = &mut self.records {
                match records.next() {
                    Some(Ok(r)) if r.offset < fr.start_offset => continue,
                    Some(Ok(r)) => {
                        self.resume = Some(r.offset.saturating_add(1));
                        return Some(Ok(fr.record(r, *ts_type, *epoch)));
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => self.records = None,
                }
            }
            if let Some(lent) = &mut self.lent {
                // The lending iteration stopped inside this batch: go on
                // from there, with records that share its bytes.
                let mut refs = lent.data.iter_at(lent.at);
                let next = refs.find(|r| r.as_ref().map_or(true, |r| r.offset >= fr.start_offset));
                lent.at = refs.position();
                match next {
                    Some(Ok(r)) => {
                        self.resume = Some(r.offset.saturating_add(1));
                        let r = lent.data.keep(&r);
                        return Some(Ok(fr.record(r, lent.timestamp_type, lent.leader_epoch)));
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => self.lent = None,
                }
            }
            if let Err(e) = self.enter(fr, false) {
                return Some(Err(e));
            }
        }
        None
    }

    /// Lends records to `f` until they end, `f` breaks or one fails to
    /// decode.
    fn lend<F>(&mut self, fr: &FetchedRecords, f: &mut F) -> Lent
    where
        F: FnMut(RecordView<'_>) -> ControlFlow<()>,
    {
        while !self.done {
            if let Some((records, timestamp_type, leader_epoch)) = &mut self.records {
                // The owning iteration stopped inside this batch.
                match records.next() {
                    Some(Ok(r)) if r.offset < fr.start_offset => {}
                    Some(Ok(r)) => {
                        self.resume = Some(r.offset.saturating_add(1));
                        let view = RecordView {
                            topic: &fr.topic,
                            partition: fr.partition.partition,
                            offset: r.offset,
                            timestamp: r.timestamp,
                            timestamp_type: *timestamp_type,
                            leader_epoch: *leader_epoch,
                            key: r.key.as_deref(),
                            value: r.value.as_deref(),
                            headers: HeadersRef::from(&r.headers),
                        };
                        if f(view).is_break() {
                            return Lent::Stopped;
                        }
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Lent::Failed(e);
                    }
                    None => self.records = None,
                }
                continue;
            }
            if let Some(lent) = &mut self.lent {
                let mut refs = lent.data.iter_at(lent.at);
                let mut stopped = false;
                let mut failed = None;
                let mut resume = self.resume;
                for r in refs.by_ref() {
                    match r {
                        Ok(r) if r.offset < fr.start_offset => {}
                        Ok(r) => {
                            resume = Some(r.offset.saturating_add(1));
                            let view = RecordView {
                                topic: &fr.topic,
                                partition: fr.partition.partition,
                                offset: r.offset,
                                timestamp: r.timestamp,
                                timestamp_type: lent.timestamp_type,
                                leader_epoch: lent.leader_epoch,
                                key: r.key,
                                value: r.value,
                                headers: r.headers,
                            };
                            if f(view).is_break() {
                                stopped = true;
                                break;
                            }
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                lent.at = refs.position();
                self.resume = resume;
                if let Some(e) = failed {
                    self.done = true;
                    return Lent::Failed(e);
                }
                if stopped {
                    return Lent::Stopped;
                }
                self.lent = None;
                continue;
            }
            if let Err(e) = self.enter(fr, true) {
                return Lent::Failed(e);
            }
        }
        Lent::End
    }

    /// Enters the next visible batch, for the owning iteration or (with
    /// `lend`) the lending one; sets `done` when there is none.
    fn enter(&mut self, fr: &FetchedRecords, lend: bool) -> Result<(), DecodeError> {
        loop {
            if let Some(batches) = &mut self.batches {
                match batches.next() {
                    Some(Ok(batch)) => {
                        let h = *batch.header();
                        if h.magic >= 2 {
                            self.resume =
                                Some(self.resume.map_or(h.base_offset, |r| r.max(h.base_offset)));
                        }
                        let leader_epoch =
                            (h.partition_leader_epoch >= 0).then_some(h.partition_leader_epoch);
                        let timestamp_type = h.timestamp_type();
                        let entered = if lend {
                            batch.records_ref().map(|data| {
                                self.lent = Some(LentBatch {
                                    at: data.iter().position(),
                                    data,
                                    timestamp_type,
                                    leader_epoch,
                                });
                            })
                        } else {
                            batch.records().map(|r| {
                                self.records = Some((r, timestamp_type, leader_epoch));
                            })
                        };
                        if entered.is_err() {
                            self.done = true;
                        }
                        return entered;
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Err(e);
                    }
                    None => self.batches = None,
                }
            }
            let Some(range) = fr.visible.get(self.range) else {
                self.done = true;
                return Ok(());
            };
            self.range += 1;
            // CRCs were checked when the data arrived.
            let options = DecodeOptions {
                max_decompressed_size: fr.max_decompressed_size,
                verify_crc: false,
            };
            let slice = fr
                .data
                .get(range.clone())
                .map(|_| fr.data.slice(range.clone()));
            self.batches = slice.map(|s| Batches::with_options(s, options));
        }
    }
}

/// A record lent for processing in place: the fields of a
/// [`ConsumerRecord`], borrowed from the fetched bytes. Lending one takes
/// no reference count and allocates nothing; see [`IntoRecords::lend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordView<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition index.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Milliseconds since the Unix epoch; what it means depends on
    /// `timestamp_type`.
    pub timestamp: i64,
    /// Create time or log-append time.
    pub timestamp_type: TimestampType,
    /// The leader epoch the broker stamped on the batch, if any.
    pub leader_epoch: Option<i32>,
    /// The key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers, in wire order.
    pub headers: HeadersRef<'a>,
}

impl RecordView<'_> {
    /// An owned copy, for a record to keep past the call it was lent to.
    pub fn to_record(&self) -> ConsumerRecord {
        let copy = |b: &[u8]| Bytes::copy_from_slice(b);
        ConsumerRecord {
            topic: Arc::from(self.topic),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            leader_epoch: self.leader_epoch,
            key: self.key.map(copy),
            value: self.value.map(copy),
            headers: self.headers.to_headers(),
        }
    }
}

/// How [`IntoRecords::lend`] ended.
#[derive(Debug)]
pub enum Lent {
    /// Every record was lent.
    End,
    /// The callback broke; the next call goes on after the record it
    /// broke at.
    Stopped,
    /// A record failed to decode, after every good one before it; see
    /// [`RecordIter`] for what to do with the failure.
    Failed(DecodeError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::record::{encode, encode_control_batch, BatchOptions, EndTxnMarker, Record};

    fn batch(base: i64, n: usize, pid: i64, txn: bool) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                offset: base + i as i64,
                timestamp: 1000 + base + i as i64,
                key: Some(Bytes::from(format!("k{}", base + i as i64))),
                value: Some(Bytes::from(format!("v{}", base + i as i64))),
                ..Record::default()
            })
            .collect();
        let opts = BatchOptions {
            base_offset: base,
            producer_id: pid,
            producer_epoch: if pid >= 0 { 0 } else { -1 },
            base_sequence: if pid >= 0 { 0 } else { -1 },
            transactional: txn,
            ..BatchOptions::default()
        };
        encode(records.iter(), &opts).unwrap()
    }

    fn marker(base: i64, pid: i64, commit: bool) -> Bytes {
        let opts = BatchOptions {
            base_offset: base,
            producer_id: pid,
            producer_epoch: 0,
            ..BatchOptions::default()
        };
        let m = EndTxnMarker::new(0);
        let rec = if commit {
            ControlRecord::Commit(m)
        } else {
            ControlRecord::Abort(m)
        };
        encode_control_batch(&opts, 5, &rec).unwrap()
    }

    fn offsets(
        data: Bytes,
        start: i64,
        aborted: Option<&[AbortedTransaction]>,
    ) -> (Vec<i64>, Option<i64>) {
        let s = scan(&data, start, aborted, DecodeOptions::default());
        let next = s.next_offset;
        if s.visible.is_empty() {
            return (Vec::new(), next);
        }
        let fr = FetchedRecords::new(
            TopicPartition::new("t", 0),
            &data,
            &s,
            start,
            next.unwrap(),
            None,
            1 << 20,
        );
        (fr.iter().map(|r| r.unwrap().offset).collect(), next)
    }

    #[test]
    fn skips_records_before_the_start_and_reads_zero_copy() {
        let data: Bytes = [batch(0, 5, -1, false), batch(5, 5, -1, false)]
            .concat()
            .into();
        let (got, next) = offsets(data.clone(), 3, None);
        assert_eq!(got, [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(next, Some(10));
        // A batch wholly before the start is not visible at all.
        let s = scan(&data, 5, None, DecodeOptions::default());
        assert_eq!(s.visible.len(), 1);
        let fr = FetchedRecords::new(TopicPartition::new("t", 0), &data, &s, 5, 10, None, 1 << 20);
        let rec = fr.iter().next().unwrap().unwrap();
        assert_eq!(rec.value.as_deref(), Some(&b"v5"[..]));
        // The value points into the response buffer: no copy was made.
        let v = rec.value.unwrap();
        let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
        assert!(range.contains(&(v.as_ptr() as usize)));
    }

    #[test]
    fn incomplete_trailing_batch_is_ignored_and_a_lone_one_asks_for_more() {
        let b = batch(0, 3, -1, false);
        let data: Bytes = [&b[..], &batch(3, 3, -1, false)[..10]].concat().into();
        let (got, next) = offsets(data, 0, None);
        assert_eq!((got, next), (vec![0, 1, 2], Some(3)));
        let partial = b.slice(..20);
        let s = scan(&partial, 0, None, DecodeOptions::default());
        assert_eq!(s.needs_bytes, Some(b.len()));
        assert!(s.visible.is_empty() && s.next_offset.is_none());
    }

    #[test]
    fn corrupt_batch_stops_the_scan_after_good_ones() {
        let good = batch(0, 2, -1, false);
        let mut bad = batch(2, 2, -1, false).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let data: Bytes = [&good[..], &bad[..]].concat().into();
        let s = scan(&data, 0, None, DecodeOptions::default());
        assert_eq!(s.next_offset, Some(2));
        assert_eq!(s.corrupt.as_ref().map(|c| c.0), Some(2));
        // Without CRC checks the same data passes.
        let lax = DecodeOptions {
            verify_crc: false,
            ..DecodeOptions::default()
        };
        assert!(scan(&data, 0, None, lax).corrupt.is_none());
    }

    #[test]
    fn read_committed_drops_aborted_and_control_batches() {
        // pid 7 aborts offsets 0-1 (marker at 4); pid 8 commits 2-3 (marker at 5); plain 6.
        let data: Bytes = [
            batch(0, 2, 7, true),
            batch(2, 2, 8, true),
            marker(4, 7, false),
            marker(5, 8, true),
            batch(6, 1, -1, false),
            batch(7, 1, 7, true),
        ]
        .concat()
        .into();
        let aborted = [AbortedTransaction::default()
            .with_producer_id(7)
            .with_first_offset(0)];
        let (got, next) = offsets(data.clone(), 0, Some(&aborted));
        // pid 7's later batch (offset 7) belongs to a new transaction.
        assert_eq!(got, [2, 3, 6, 7]);
        assert_eq!(next, Some(8));
        // read_uncommitted sees every data record, never the markers.
        let (got, _) = offsets(data, 0, None);
        assert_eq!(got, [0, 1, 2, 3, 6, 7]);
    }

    #[test]
    fn control_only_data_is_invisible_but_moves_the_position() {
        let data = marker(10, 3, true);
        let s = scan(&data, 10, Some(&[]), DecodeOptions::default());
        assert!(s.visible.is_empty());
        assert_eq!(s.next_offset, Some(11));
    }

    #[test]
    fn legacy_message_sets_and_headers_come_through() {
        let recs: Vec<Record> = (0..3)
            .map(|i| Record {
                offset: 10 + i,
                timestamp: 1000 + i,
                value: Some(Bytes::from(format!("old{i}"))),
                ..Record::default()
            })
            .collect();
        let opts = kafka_proto::record::LegacyOptions {
            compression: kafka_proto::record::Compression::Gzip,
            ..Default::default()
        };
        let legacy = kafka_proto::record::encode_legacy(recs.iter(), &opts).unwrap();
        let with_headers = Record {
            offset: 13,
            timestamp: 5,
            headers: Headers::from_pairs([("trace", Some(&b"abc"[..]))]).unwrap(),
            ..Record::default()
        };
        let modern = encode(
            [&with_headers],
            &BatchOptions {
                base_offset: 13,
                ..BatchOptions::default()
            },
        )
        .unwrap();
        let data: Bytes = [legacy, modern].concat().into();
        let s = scan(&data, 11, None, DecodeOptions::default());
        let fr = FetchedRecords::new(
            TopicPartition::new("t", 0),
            &data,
            &s,
            11,
            14,
            None,
            1 << 20,
        );
        let got: Vec<ConsumerRecord> = fr.iter().map(Result::unwrap).collect();
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [11, 12, 13]);
        assert_eq!(got[0].value.as_deref(), Some(&b"old1"[..]));
        assert_eq!(
            got[2].headers.last("trace"),
            Some(Some(Bytes::from_static(b"abc")))
        );
        assert_eq!(s.next_offset, Some(14));
    }

    #[test]
    fn decompression_bound_is_an_error_not_a_panic() {
        let records: Vec<Record> = (0..50)
            .map(|i| Record {
                offset: i,
                value: Some(Bytes::from(vec![b'z'; 1000])),
                ..Record::default()
            })
            .collect();
        let opts = BatchOptions {
            compression: kafka_proto::record::Compression::Lz4,
            ..BatchOptions::default()
        };
        let data = encode(records.iter(), &opts).unwrap();
        let s = scan(&data, 0, None, DecodeOptions::default());
        let fr = FetchedRecords::new(TopicPartition::new("t", 0), &data, &s, 0, 50, None, 4096);
        let mut it = fr.into_iter();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn a_record_carries_every_field_of_the_public_record() {
        // A broker with log-append time stamps the batch: every record
        // reads the broker's time, not the producer's create time.
        let record = Record {
            offset: 40,
            timestamp: 1_000,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: Headers::from_pairs([("h", Some(&b"x"[..])), ("h", None)]).unwrap(),
        };
        let opts = BatchOptions {
            base_offset: 40,
            partition_leader_epoch: 7,
            timestamp_type: TimestampType::LogAppendTime,
            ..BatchOptions::default()
        };
        let mut bytes = encode([&record], &opts).unwrap().to_vec();
        kafka_proto::record::BatchHeaderMut::new(&mut bytes)
            .unwrap()
            .set_log_append_time(9_999);
        let data = Bytes::from(bytes);
        let s = scan(&data, 40, None, DecodeOptions::default());
        let tp = TopicPartition::new("orders", 3);
        let fr = FetchedRecords::new(tp, &data, &s, 40, 41, Some(41), 1 << 20);
        let got = fr.iter().next().unwrap().unwrap();
        assert_eq!(&*got.topic, "orders");
        assert_eq!(got.partition, 3);
        assert_eq!(got.offset, 40);
        assert_eq!(got.timestamp, 9_999);
        assert_eq!(got.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(got.leader_epoch, Some(7));
        assert_eq!(got.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(got.value, None, "a tombstone stays a tombstone");
        let headers: Vec<_> = got.headers.iter().collect();
        assert_eq!(headers.len(), 2, "repeated header keys are kept");
    }

    /// `good` plain records from offset 0, then (compacted away) nothing
    /// until an lz4 batch at 10 that inflates past a 4 KB bound; fetched
    /// from offset 1.
    fn good_then_too_big(good: usize) -> FetchedRecords {
        let records: Vec<Record> = (0..50)
            .map(|i| Record {
                offset: 10 + i,
                value: Some(Bytes::from(vec![b'z'; 1000])),
                ..Record::default()
            })
            .collect();
        let opts = BatchOptions {
            base_offset: 10,
            compression: kafka_proto::record::Compression::Lz4,
            ..BatchOptions::default()
        };
        let data: Bytes = [
            batch(0, good, -1, false),
            encode(records.iter(), &opts).unwrap(),
        ]
        .concat()
        .into();
        let s = scan(&data, 1, None, DecodeOptions::default());
        FetchedRecords::new(TopicPartition::new("t", 0), &data, &s, 1, 60, None, 4096)
    }

    #[test]
    fn resume_offset_names_the_batch_that_failed_even_after_a_gap() {
        let mut it = good_then_too_big(2).into_iter();
        assert_eq!(it.resume_offset(), 1, "nothing yielded: the start");
        assert_eq!(it.next().unwrap().unwrap().offset, 1);
        assert_eq!(it.resume_offset(), 2);
        assert!(it.next().unwrap().is_err());
        assert_eq!(it.resume_offset(), 10, "the failed batch, not the gap");
        assert!(it.next().is_none());
    }

    #[test]
    fn compacted_gaps_are_fine() {
        // Offsets 0, 1, then 5, 6: a compacted log has holes.
        let data: Bytes = [batch(0, 2, -1, false), batch(5, 2, -1, false)]
            .concat()
            .into();
        let (got, next) = offsets(data, 2, None);
        assert_eq!((got, next), (vec![5, 6], Some(7)));
    }

    /// Drains `it` by alternating the two ways of taking records: `lend`
    /// for up to `lent` records, then `next` for one, and so on.
    fn mixed(mut it: IntoRecords, lent: usize) -> Vec<Result<ConsumerRecord, String>> {
        let mut out = Vec::new();
        loop {
            let mut n = 0;
            let end = it.lend(|r| {
                out.push(Ok(r.to_record()));
                n += 1;
                if n == lent {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if let Lent::Failed(e) = end {
                out.push(Err(e.to_string()));
            }
            match it.next() {
                Some(r) => out.push(r.map_err(|e| e.to_string())),
                None => return out,
            }
        }
    }

    #[test]
    fn lending_yields_what_iterating_yields() {
        let aborted = [AbortedTransaction::default()
            .with_producer_id(7)
            .with_first_offset(4)];
        let lz4 = |base: i64, n: usize| {
            let records: Vec<Record> = (0..n as i64)
                .map(|i| Record {
                    offset: base + i,
                    key: Some(Bytes::from(format!("k{}", base + i))),
                    headers: Headers::from_pairs([("h", Some(&b"x"[..]))]).unwrap(),
                    ..Record::default()
                })
                .collect();
            let opts = BatchOptions {
                base_offset: base,
                compression: kafka_proto::record::Compression::Lz4,
                ..BatchOptions::default()
            };
            encode(records.iter(), &opts).unwrap()
        };
        let data: Bytes = [
            batch(0, 4, -1, false),
            batch(4, 3, 7, true),
            marker(7, 7, false),
            lz4(8, 6),
            batch(14, 5, -1, false),
        ]
        .concat()
        .into();
        for start in [0, 2, 9] {
            let s = scan(&data, start, Some(&aborted), DecodeOptions::default());
            let next = s.next_offset.unwrap();
            let fr = FetchedRecords::new(
                TopicPartition::new("t", 2),
                &data,
                &s,
                start,
                next,
                None,
                1 << 20,
            );
            let want: Vec<_> = fr.iter().map(|r| r.map_err(|e| e.to_string())).collect();
            assert!(want.len() >= 10);
            let mut all = Vec::new();
            assert!(matches!(
                fr.clone().into_iter().lend(|r| {
                    all.push(Ok(r.to_record()));
                    ControlFlow::Continue(())
                }),
                Lent::End
            ));
            assert_eq!(all, want, "start {start}");
            for step in [1, 2, 3, 5] {
                assert_eq!(
                    mixed(fr.clone().into_iter(), step),
                    want,
                    "start {start} step {step}"
                );
            }
        }
    }

    #[test]
    fn lending_fails_where_iterating_fails() {
        let mut it = good_then_too_big(3).into_iter();
        let mut seen = Vec::new();
        let end = it.lend(|r| {
            seen.push(r.offset);
            ControlFlow::Continue(())
        });
        assert_eq!(seen, [1, 2]);
        assert!(matches!(end, Lent::Failed(_)));
        assert_eq!(it.resume_offset(), 10);
        assert!(it.next().is_none());
        assert!(matches!(it.lend(|_| ControlFlow::Continue(())), Lent::End));
    }
}
