//! The idempotent producer id: fetched with InitProducerId (no
//! transactional id) and bumped locally when a partition's sequence
//! breaks (KIP-360).
//!
//! The producer only asks this module for the id and epoch to stamp
//! batches with, and tells it when a sequence broke; how the id is
//! obtained stays here. With a `transactional_id` the transaction manager
//! owns the id instead (`TxnLink::pid`).

use std::time::{Duration, Instant};

use kafka_proto::messages::InitProducerIdRequest;
use kafka_proto::{ErrorCode, ResponseBody};
use tracing::{debug, warn};

use crate::error::RequestError;
use crate::router::{Outbound, RequestId, RequestQueue, Target};

const LOG: &str = "kafka_state::producer";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// To fetch (now, or after `Backoff`).
    Missing,
    Requesting(RequestId),
    Backoff(Instant),
    Known(i64, i16),
}

/// The producer id and epoch of an idempotent producer.
#[derive(Debug)]
pub(super) struct ProducerIdState {
    state: State,
    /// Consecutive failed InitProducerId requests.
    failures: u32,
}

impl ProducerIdState {
    pub(super) fn new() -> Self {
        Self {
            state: State::Missing,
            failures: 0,
        }
    }

    /// The producer id and epoch to stamp batches with, once known.
    pub(super) fn current(&self) -> Option<(i64, i16)> {
        match self.state {
            State::Known(id, epoch) => Some((id, epoch)),
            _ => None,
        }
    }

    /// Queues an InitProducerId request if none is known, none is in
    /// flight and no retry backoff runs.
    pub(super) fn poll_request(
        &mut self,
        now: Instant,
        queue: &mut RequestQueue,
        api_timeout: Duration,
    ) {
        let due = match self.state {
            State::Missing => true,
            State::Backoff(t) => t <= now,
            _ => false,
        };
        if !due {
            return;
        }
        let id = queue.next_id();
        debug!(target: LOG, %id, "requesting a producer id");
        self.state = State::Requesting(id);
        queue.push(Outbound {
            id,
            target: Target::Any,
            body: InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(-1)
                .with_producer_epoch(-1)
                .into(),
            expires: now + api_timeout,
        });
    }

    /// When a failed request may be retried.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Backoff(t) => Some(t),
            _ => None,
        }
    }

    /// Whether `id` is the InitProducerId request in flight.
    pub(super) fn is_request(&self, id: RequestId) -> bool {
        self.state == State::Requesting(id)
    }

    /// Takes the answer to InitProducerId. On failure, retries after
    /// `backoff(consecutive failures)`.
    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        result: Result<ResponseBody, RequestError>,
        backoff: impl FnOnce(u32) -> Duration,
    ) {
        let error = match result {
            Ok(ResponseBody::InitProducerId(r)) => match ErrorCode::from_code(r.error_code) {
                ErrorCode::None => {
                    debug!(target: LOG, producer_id = r.producer_id, epoch = r.producer_epoch, "got producer id");
                    self.state = State::Known(r.producer_id, r.producer_epoch);
                    self.failures = 0;
                    return;
                }
                code => code.to_string(),
            },
            Ok(other) => format!("unexpected {} response", other.api_key()),
            Err(e) => e.to_string(),
        };
        self.failures = self.failures.saturating_add(1);
        let delay = backoff(self.failures);
        warn!(target: LOG, %error, ?delay, "InitProducerId failed, retrying");
        self.state = State::Backoff(now + delay);
    }

    /// A partition's sequence broke: bumps the epoch locally (KIP-360),
    /// or fetches a new producer id once the epoch is exhausted.
    pub(super) fn bump_epoch(&mut self) {
        self.state = match self.state {
            State::Known(id, epoch) if epoch < i16::MAX - 1 => State::Known(id, epoch + 1),
            State::Known(..) => State::Missing,
            other => other,
        };
        debug!(target: LOG, pid = ?self.state, "bumped producer epoch");
    }
}
