//! The runtime-agnostic machinery every threaded or async adapter of the
//! [`kafka_state`] core shares.
//!
//! An adapter is a runtime's way to spawn work, its socket type, its
//! timer and its public API; everything else lives here:
//!
//! - [`Core`]: the sans-IO [`kafka_state::Client`] with the calls waiting
//!   on it and the sockets it writes to, behind one lock ([`Shared`]).
//!   Its [`Core::drain`] runs the documented order (transmits, connection
//!   requests, events) until nothing moves; [`Core::on_read`] is what a
//!   socket reader does with bytes, [`Core::after_command`] what a handle
//!   does after a command it ran itself.
//! - [`Runtime`]: what the adapter supplies (open a socket, write a
//!   frame, wake senders waiting for room, fetch an OAUTHBEARER token).
//! - [`Outbox`]: a connection's write side over any non-blocking writer,
//!   for writer tasks ([`Outbox::next`]) and threads
//!   ([`Outbox::next_blocking`]).
//! - [`Calls`]: application calls waiting for core events, and
//!   [`admin`] calls with typed answers.
//! - [`ConsumerLease`] over a [`RecordBuffer`]: what every adapter's
//!   consumer is (the client's one consumer slot; records between core
//!   and application, their consumed offsets stored as they are yielded,
//!   records of partitions taken away dropped at once); the adapter adds
//!   only how it waits for a pull.
//! - [`admin_methods!`]: the admin methods of every adapter's `Client`,
//!   written once for async and blocking.
//! - [`threads`]: for thread-based adapters, delivery reports a sender
//!   blocks on and a count of threads to wait out at shutdown.
//! - [`BatchSlot`]: the delivery reports of records sent together, one
//!   slot for the batch, for threads and tasks alike.
//! - [`Error`]: the one error type of every adapter.
//! - [`WallClock`], [`wall_clock_ms`], [`random_seed`]: what the core
//!   leaves to the adapter (record create times, seeds).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub use admin::AdminCall;
mod batch;
mod calls;
mod clock;
mod core;
mod error;
mod lease;
mod outbox;
mod records;
pub mod threads;

pub use batch::{BatchSlot, PartOffer, BATCH_RUN};
pub use calls::{
    Calls, Committed, Deliver, Gone, Offer, Offsets, Rebalance, Reply, StatsSink, TxnCall,
};
pub use clock::{random_seed, wall_clock_ms, WallClock};
pub use core::{Core, Job, Runtime, Shared, TokenResult, Wake, READ_CHUNK};
pub use error::Error;
pub use lease::{ConsumerLease, RebalanceListener};
pub use outbox::{Next, Outbox, TryWrite, BACKLOG_LIMIT};
pub use records::{Corrupt, Lending, RecordBuffer, Stale};
