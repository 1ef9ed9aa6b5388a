//! What the client asks of its adapter: bytes to write and sockets to
//! open or close.

use std::fmt;

use bytes::Bytes;

/// Identifies one connection. The client picks it when it asks for a
/// socket ([`ConnRequest::Open`]); the adapter passes it back with every
/// input about that socket. Never reused within one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A broker as the client addresses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Broker {
    /// The entry at this index of the bootstrap list, before metadata
    /// names it.
    Bootstrap(usize),
    /// A broker by node id, as metadata lists it.
    Node(i32),
    /// A second connection to the broker with this node id, for the
    /// group coordinator's requests only: the coordinator holds a JoinGroup
    /// until the whole group has rejoined, and a broker answers the
    /// requests of one connection in order, so fetches must not queue
    /// behind it (the Java client does the same).
    Coordinator(i32),
    /// A connection to the broker with this node id for the producer
    /// only (its batches, and a transactional producer's transaction
    /// requests): on the broker's other connections they would wait
    /// behind a fetch held for `fetch_max_wait` or a held JoinGroup (a
    /// broker answers one connection's requests in order), and a commit
    /// waits for all of them (the Java client's producer and consumer
    /// have connections of their own too).
    Producer(i32),
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broker::Bootstrap(i) => write!(f, "bootstrap broker #{i}"),
            Broker::Node(id) => write!(f, "broker {id}"),
            Broker::Coordinator(id) => write!(f, "broker {id} (coordinator connection)"),
            Broker::Producer(id) => write!(f, "broker {id} (producer connection)"),
        }
    }
}

/// Bytes to write to a connection, in order, after everything written
/// to it before.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// The connection.
    pub conn: ConnId,
    /// Request frames, or a piece of one: a Produce request whose record
    /// batches are 32 KiB or more comes as several transmits, the batches
    /// among them as they are held, not copied. Under TLS (feature `tls`),
    /// the TLS records that carry whole frames.
    pub bytes: Bytes,
}

/// A socket the client wants opened or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnRequest {
    /// Open a TCP connection and report the outcome with
    /// [`Client::handle_connected`](crate::Client::handle_connected) or
    /// [`Client::handle_connect_failed`](crate::Client::handle_connect_failed).
    Open {
        /// The id to report it under.
        conn: ConnId,
        /// Host to resolve and connect to.
        host: String,
        /// Port.
        port: u16,
    },
    /// Close the socket and drop its read buffer. The client has already
    /// forgotten the connection; reporting it closed is not needed.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// How many bytes an adapter lets wait for sockets that cannot take them
/// yet, over all its connections, before it stops calling
/// [`Client::poll_transmit`](crate::Client::poll_transmit). Requests then
/// wait in the client, whose producer buffer is bounded, instead of
/// piling up in the adapter: acks=0 requests are done once taken, so
/// nothing else would hold their senders back. The adapters in this
/// workspace all use it.
///
/// Two default-sized requests (`max_request_size` is 1 MiB): the kernel's
/// socket buffer keeps the link busy meanwhile, so more only holds memory.
/// An acks=0 producer peaked 14 MB higher at 8 MiB than at 2 MiB, at the
/// same rate; at 1 MiB it lost about 6 % of its rate.
pub const WRITE_BACKLOG_LIMIT: usize = 2 << 20;
