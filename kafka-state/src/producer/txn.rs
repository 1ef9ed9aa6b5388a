//! The seam between the producer and a transaction manager.
//!
//! Without hooks the producer is idempotent on its own: it asks any broker
//! for a producer id (InitProducerId without a transactional id) and bumps
//! its epoch locally when a partition's sequence breaks (KIP-360). A
//! transaction manager implements `TxnHooks` and is installed with
//! `ProducerState::set_txn_hooks`; from then on it owns the producer id
//! (it runs InitProducerId against its coordinator, with the current id
//! and epoch when bumping) and decides when a partition may receive
//! batches (after AddPartitionsToTxn covered it in the current
//! transaction).

use crate::TopicPartition;

/// What the producer asks of a transaction manager.
#[allow(dead_code)] // implemented by the transaction manager to come
pub(crate) trait TxnHooks: Send {
    /// The `transactional.id` sent with every Produce request.
    fn transactional_id(&self) -> Option<&str>;

    /// The producer id and epoch to stamp batches with; `None` holds
    /// every batch back (the id is being fetched or bumped).
    fn producer_id(&self) -> Option<(i64, i16)>;

    /// Whether batches of `tp` may be sent now. Called before each send
    /// to a partition; returning false (AddPartitionsToTxn still pending)
    /// keeps its batches queued.
    fn may_send(&mut self, tp: &TopicPartition) -> bool;

    /// A partition's sequence broke (OUT_OF_ORDER_SEQUENCE_NUMBER,
    /// UNKNOWN_PRODUCER_ID): the manager bumps the epoch through its
    /// coordinator, or aborts the transaction.
    fn sequence_broken(&mut self, tp: &TopicPartition);
}
