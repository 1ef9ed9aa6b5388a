//! What happened, for the application.

use crate::admin::AdminResult;
use crate::consumer::ConsumerEvent;
use crate::error::{DisconnectReason, FatalError};
use crate::group::GroupEvent;
use crate::producer::{Delivered, DeliveryId, DeliveryReport, ProduceError};
use crate::router::RequestId;
use crate::Broker;

/// Something the application may want to know or act on. Drained with
/// [`Client::poll_event`](crate::Client::poll_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A connection finished its setup (ApiVersions) and carries requests.
    BrokerReady {
        /// The broker.
        broker: Broker,
    },
    /// A connection closed; its outstanding requests failed or will be
    /// retried by their owners. The client reconnects on demand.
    ConnectionLost {
        /// The broker.
        broker: Broker,
        /// Why.
        reason: DisconnectReason,
    },
    /// The metadata cache changed ([`Client::cluster`](crate::Client::cluster)).
    MetadataUpdated,
    /// An admin command finished.
    AdminResult {
        /// The id its command returned.
        id: RequestId,
        /// Its outcome.
        result: AdminResult,
    },
    /// A batch of records sent with
    /// [`Producer::send`](crate::producer::Producer::send) was written.
    /// Every record sent gets exactly one outcome: here, or in a
    /// [`DeliveryFailed`](Event::DeliveryFailed).
    Delivered(Delivered),
    /// A record sent with [`Producer::send`](crate::producer::Producer::send)
    /// failed for good (or may have been written but cannot be known to).
    DeliveryFailed {
        /// The id `send` returned.
        id: DeliveryId,
        /// Why.
        error: ProduceError,
    },
    /// The producer's buffer has room again after a
    /// [`SendError::BufferFull`](crate::producer::SendError::BufferFull).
    BufferAvailable,
    /// Every record sent before and during a
    /// [`Producer::flush`](crate::producer::Producer::flush) has its delivery report.
    FlushComplete,
    /// A connection authenticating with SASL OAUTHBEARER waits for a token:
    /// answer with [`Client::set_oauth_token`](crate::Client::set_oauth_token).
    /// Repeated while unanswered, at most once per connection setup timeout.
    OAuthTokenRequired,
    /// Something about the consumer: offset lookups, positions, stopped
    /// partitions.
    Consumer(ConsumerEvent),
    /// Something about the consumer group: joins, commits, leaving,
    /// failures (assignment changes come as [`Event::Consumer`]).
    Group(GroupEvent),
    /// A transaction command ended; see
    /// [`Transactions`](crate::producer::Transactions).
    Transaction(crate::producer::TxnEvent),
    /// The client failed for good; see [`FatalError`].
    Fatal(FatalError),
    /// A statistics snapshot, every
    /// [`Config::stats_interval`](crate::Config::stats_interval).
    Stats(Box<crate::ClientStats>),
}

impl Event {
    /// The delivery outcomes the event carries, one per record: each
    /// record of a [`Delivered`](Event::Delivered) batch, the record of a
    /// [`DeliveryFailed`](Event::DeliveryFailed), none for other events.
    /// For callers that handle records one at a time.
    pub fn outcomes(&self) -> Outcomes<'_> {
        Outcomes {
            event: self,
            next: 0,
        }
    }
}

/// The per-record outcomes of an [`Event`]; see [`Event::outcomes`].
#[derive(Debug, Clone)]
pub struct Outcomes<'a> {
    event: &'a Event,
    next: usize,
}

impl Iterator for Outcomes<'_> {
    type Item = (DeliveryId, Result<DeliveryReport, ProduceError>);

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.event {
            Event::Delivered(batch) => batch.report(self.next).map(|(id, report)| (id, Ok(report))),
            Event::DeliveryFailed { id, error } if self.next == 0 => {
                Some((*id, Err(error.clone())))
            }
            _ => None,
        };
        self.next += usize::from(item.is_some());
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let total = match self.event {
            Event::Delivered(batch) => batch.len(),
            Event::DeliveryFailed { .. } => 1,
            _ => 0,
        };
        let left = total.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Outcomes<'_> {}
