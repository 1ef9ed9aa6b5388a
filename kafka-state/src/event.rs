//! What happened, for the application.

use crate::admin::AdminResult;
use crate::consumer::ConsumerEvent;
use crate::error::{DisconnectReason, FatalError};
use crate::group::GroupEvent;
use crate::producer::{DeliveryId, DeliveryReport, ProduceError};
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
    /// A record sent with [`Producer::send`](crate::producer::Producer::send)
    /// was written, or failed for good. Exactly one per record.
    Delivery {
        /// The id `send` returned.
        id: DeliveryId,
        /// Where it was written, or why not.
        result: Result<DeliveryReport, ProduceError>,
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
