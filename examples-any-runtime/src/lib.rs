//! The sans-IO core in any async runtime.
//!
//! A runtime has to give the core three things: a TCP connect, a way to
//! spawn a task, and a timer. [`Runtime`] names exactly those; [`Driver`]
//! is the whole adapter on top of them — one loop, no protocol logic.
//! `examples/smol.rs` and `examples/async_std.rs` plug in the two
//! runtimes in a few lines each. (async-std is discontinued upstream;
//! smol, on the same foundations, is the one to pick for new code.)
//!
//! The drivers in `kafka-tokio`, `kafka-mio` and `kafka-blocking` follow
//! the same shape, with back-pressure, batching and a user-facing API
//! added.

// The README's examples run as doctests here, in a crate that can see
// every crate they use, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::time::Instant;

use bytes::BytesMut;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use kafka_state::{Client, ConnId, ConnRequest, Event};

/// What the driver needs from a runtime.
pub trait Runtime: 'static {
    /// A connected TCP stream; clones share the socket.
    type Stream: futures_lite::AsyncRead + futures_lite::AsyncWrite + Clone + Unpin + Send + 'static;
    /// Resolves `host` and connects.
    fn connect(host: String, port: u16) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Runs `task` in the background.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);
    /// Completes at `at`.
    fn sleep_until(at: Instant) -> impl Future<Output = ()>;
}

/// What socket tasks tell the driver.
enum Net<S> {
    Connected(ConnId, S),
    Failed(ConnId, String),
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// Drives a [`Client`] on runtime `R`.
pub struct Driver<R: Runtime> {
    /// The core; call its commands with `Instant::now()`.
    pub client: Client,
    streams: HashMap<ConnId, Option<R::Stream>>,
    bufs: HashMap<ConnId, BytesMut>,
    tx: async_channel::Sender<Net<R::Stream>>,
    rx: async_channel::Receiver<Net<R::Stream>>,
}

impl<R: Runtime> Driver<R> {
    /// A driver for `client`.
    pub fn new(client: Client) -> Self {
        let (tx, rx) = async_channel::bounded(64);
        Self {
            client,
            streams: HashMap::new(),
            bufs: HashMap::new(),
            tx,
            rx,
        }
    }

    /// Runs the I/O the core asks for until it has an event.
    pub async fn next_event(&mut self) -> Event {
        loop {
            while let Some(t) = self.client.poll_transmit() {
                if let Some(Some(stream)) = self.streams.get_mut(&t.conn) {
                    if stream.write_all(&t.bytes).await.is_err() {
                        self.closed(t.conn);
                    }
                }
            }
            while let Some(req) = self.client.poll_conn() {
                match req {
                    ConnRequest::Open { conn, host, port } => {
                        self.streams.insert(conn, None);
                        let tx = self.tx.clone();
                        R::spawn(async move {
                            let _ = match R::connect(host, port).await {
                                Ok(stream) => tx.send(Net::Connected(conn, stream)).await,
                                Err(e) => tx.send(Net::Failed(conn, e.to_string())).await,
                            };
                        });
                    }
                    ConnRequest::Close { conn } => {
                        if let Some(Some(mut stream)) = self.streams.remove(&conn) {
                            // The reader sees EOF once the broker closes its side.
                            let _ = stream.close().await;
                        }
                        self.bufs.remove(&conn);
                    }
                    _ => {}
                }
            }
            if let Some(event) = self.client.poll_event() {
                return event;
            }
            let wake = self.client.poll_timeout();
            let net = future::or(async { self.rx.recv().await.ok() }, async {
                match wake {
                    Some(at) => R::sleep_until(at).await,
                    None => future::pending::<()>().await,
                }
                None
            })
            .await;
            match net {
                Some(net) => self.handle(net),
                None => self.client.handle_timeout(Instant::now()),
            }
        }
    }

    fn handle(&mut self, net: Net<R::Stream>) {
        let now = Instant::now();
        match net {
            Net::Connected(conn, stream) => {
                let Some(slot) = self.streams.get_mut(&conn) else {
                    return;
                };
                *slot = Some(stream.clone());
                let tx = self.tx.clone();
                R::spawn(read_loop(stream, conn, tx));
                self.client.handle_connected(now, conn);
            }
            Net::Failed(conn, error) => {
                if self.streams.remove(&conn).is_some() {
                    self.client.handle_connect_failed(now, conn, error);
                }
            }
            Net::Data(conn, bytes) => {
                if self.streams.contains_key(&conn) {
                    let buf = self.bufs.entry(conn).or_default();
                    buf.extend_from_slice(&bytes);
                    self.client.handle_recv(now, conn, buf);
                }
            }
            Net::Closed(conn) => self.closed(conn),
        }
    }

    fn closed(&mut self, conn: ConnId) {
        self.bufs.remove(&conn);
        if self.streams.remove(&conn).is_some() {
            self.client.handle_closed(Instant::now(), conn);
        }
    }
}

async fn read_loop<S: futures_lite::AsyncRead + Unpin>(
    mut stream: S,
    conn: ConnId,
    tx: async_channel::Sender<Net<S>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = tx.send(Net::Closed(conn)).await;
                return;
            }
            Ok(n) => {
                if tx.send(Net::Data(conn, buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The examples' job: create a topic, then read its metadata back.
/// Returns the number of partitions the broker reports.
pub async fn demo<R: Runtime>(bootstrap: &str, topic: &str) -> Result<usize, String> {
    let config = kafka_state::Config::new(
        kafka_state::BrokerAddr::parse_list(bootstrap).map_err(|e| e.to_string())?,
    );
    let client = Client::new(config, Instant::now()).map_err(|e| e.to_string())?;
    let mut driver = Driver::<R>::new(client);
    let create = driver
        .client
        .admin()
        .create_topics(Instant::now(), [kafka_state::NewTopic::new(topic, 3, 1)])
        .map_err(|e| e.to_string())?;
    loop {
        match driver.next_event().await {
            Event::AdminResult { id, result } if id == create => {
                result.map_err(|e| e.to_string())?;
                break;
            }
            Event::Fatal(e) => return Err(e.to_string()),
            _ => {}
        }
    }
    let ask = driver
        .client
        .admin()
        .metadata(Instant::now(), [topic])
        .map_err(|e| e.to_string())?;
    loop {
        if let Event::AdminResult { id, result } = driver.next_event().await {
            if id == ask {
                return match result.map_err(|e| e.to_string())? {
                    kafka_state::AdminOutcome::Metadata(md) => md
                        .topic(topic)
                        .map(|t| t.partitions.len())
                        .ok_or_else(|| format!("{topic} missing from metadata")),
                    other => Err(format!("unexpected outcome {other:?}")),
                };
            }
        }
    }
}
