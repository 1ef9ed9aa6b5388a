//! The driver task and the sockets: tokio's part of the shared core.
//!
//! The core sits behind a lock it shares with the handles (hot commands
//! such as a send run in the caller) and with the sockets' reader tasks,
//! which feed received bytes to the core themselves. Whoever holds the
//! lock and made a request ready writes it, so neither a request nor its
//! response takes a hop through the driver. Other application calls reach
//! the driver as jobs: closures run against the core.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_driver::{Next, Outbox, Runtime, TryWrite, Wake, READ_CHUNK};
use kafka_state::ConnId;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::TokenResult;

const LOG: &str = "kafka_tokio::driver";
/// Network messages handled per wake-up before the driver looks at jobs
/// and timers again, so one busy socket cannot starve the rest.
const NET_BATCH: usize = 64;
/// Application calls handled per wake-up before the driver drains.
const JOB_BATCH: usize = 256;
/// Socket events queued towards the driver.
const NET_QUEUE: usize = 256;

pub(crate) type Core = kafka_driver::Core<Tokio>;
pub(crate) type Shared = kafka_driver::Shared<Tokio, Ext>;
pub(crate) type Job = kafka_driver::Job<Tokio>;

/// What socket tasks report.
pub(crate) enum Net {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, io::Error),
    Closed(ConnId),
    /// Writers went back under the backlog limit.
    Drained,
}

/// tokio's part of the core.
pub(crate) struct Tokio {
    net: mpsc::Sender<Net>,
    /// Where OAUTHBEARER tokens come from, and how to hand one back to
    /// the driver (weak: the driver must stop when the handles go).
    oauth: Option<(Arc<dyn TokenProvider>, mpsc::WeakUnboundedSender<Job>)>,
    room: Arc<Notify>,
}

/// What the handles reach without the lock.
#[derive(Debug, Default)]
pub(crate) struct Ext {
    /// Wakes the driver; a wake-up given while it is busy is kept.
    wake: Notify,
    /// Wakes senders waiting for room in the producer's buffer.
    pub(crate) room: Arc<Notify>,
}

impl Wake for Ext {
    fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A socket's write half and the wake-up of its writer task.
pub(crate) struct Write {
    half: OwnedWriteHalf,
    wake: Notify,
}

impl TryWrite for Write {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.half.try_write(buf)
    }

    fn wake_writer(&self) {
        self.wake.notify_one();
    }
}

/// A socket's driver-side half.
pub(crate) struct Socket {
    /// Where frames go once connected, and the task writing what the
    /// socket could not take at once.
    writer: Option<(Arc<Outbox<Write>>, JoinHandle<()>)>,
    /// The connect task, then the reader task.
    task: JoinHandle<()>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // The core gave up on the socket: what is still queued goes too.
        self.task.abort();
        if let Some((out, task)) = &self.writer {
            out.close();
            task.abort();
        }
    }
}

/// Supplies SASL OAUTHBEARER tokens; called whenever a connection needs
/// one (first use, expiry). Any `Fn() -> impl Future<Output =
/// TokenResult>` is one, so an async identity-provider call fits.
pub trait TokenProvider: Send + Sync + 'static {
    /// Fetches a token.
    fn token(&self) -> Pin<Box<dyn Future<Output = TokenResult> + Send>>;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TokenResult> + Send + 'static,
{
    fn token(&self) -> Pin<Box<dyn Future<Output = TokenResult> + Send>> {
        Box::pin(self())
    }
}

impl Runtime for Tokio {
    type Socket = Socket;
    type Delivered = crate::delivery::Delivered;

    fn open(&mut self, conn: ConnId, host: String, port: u16, _: Duration) -> io::Result<Socket> {
        // The core times the setup out itself.
        let net = self.net.clone();
        let task = tokio::spawn(async move {
            let msg = match TcpStream::connect((host.as_str(), port)).await {
                Ok(stream) => Net::Connected(conn, stream),
                Err(e) => Net::ConnectFailed(conn, e),
            };
            let _ = net.send(msg).await;
        });
        Ok(Socket { writer: None, task })
    }

    fn write(socket: &Socket, frame: Bytes) {
        if let Some((out, _)) = &socket.writer {
            out.send(frame);
        }
    }

    fn room(&self) {
        self.room.notify_waiters();
    }

    fn fetch_token(&mut self) -> bool {
        let Some((provider, jobs)) = &self.oauth else {
            return false;
        };
        let (fetch, jobs) = (provider.token(), jobs.clone());
        tokio::spawn(async move {
            let result = fetch.await;
            if let Some(jobs) = jobs.upgrade() {
                let _ = jobs.send(Box::new(move |core: &mut Core, now| {
                    core.token_fetched(now, result)
                }));
            }
        });
        true
    }
}

/// The core of a new client, its shared half and the driver's inputs.
pub(crate) fn start(
    client: kafka_state::Client,
    provider: Option<Arc<dyn TokenProvider>>,
) -> (Arc<Shared>, mpsc::UnboundedSender<Job>) {
    let (jobs, jobs_rx) = mpsc::unbounded_channel();
    let (net, net_rx) = mpsc::channel(NET_QUEUE);
    let ext = Ext::default();
    let rt = Tokio {
        net: net.clone(),
        oauth: provider.map(|p| (p, jobs.downgrade())),
        room: Arc::clone(&ext.room),
    };
    let shared = Arc::new(Shared::new(Core::new(client, rt), ext));
    tokio::spawn(run(Arc::clone(&shared), jobs_rx, net, net_rx));
    (shared, jobs)
}

/// Runs until every application handle is gone or the core shut down.
async fn run(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    net_tx: mpsc::Sender<Net>,
    mut net_rx: mpsc::Receiver<Net>,
) {
    // One timer for the driver's life, moved only when the core's deadline
    // changes: registering a fresh timer on every wake-up (once per record
    // sent) showed up in producer profiles.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { return };
            core.drain();
            if core.is_shut_down() {
                break;
            }
            core.arm()
        };
        if deadline != armed {
            if let Some(at) = deadline {
                sleep.as_mut().reset(at.into());
            }
            armed = deadline;
        }
        let timer = async {
            match armed {
                Some(_) => (&mut sleep).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            net = net_rx.recv() => {
                // The driver holds a sender, so the channel never closes.
                let Some(first) = net else { break };
                let Ok(mut core) = shared.lock() else { return };
                handle_net(&mut core, &shared, &net_tx, first);
                for _ in 1..NET_BATCH {
                    match net_rx.try_recv() {
                        Ok(net) => handle_net(&mut core, &shared, &net_tx, net),
                        Err(_) => break,
                    }
                }
            }
            // A handle's command left work: the drain at the top does it.
            () = shared.ext.wake.notified() => {}
            job = jobs.recv() => {
                let Ok(mut core) = shared.lock() else { return };
                let now = Instant::now();
                match job {
                    Some(job) => {
                        // A burst of calls becomes one drain.
                        job(&mut core, now);
                        for _ in 1..JOB_BATCH {
                            match jobs.try_recv() {
                                Ok(job) => job(&mut core, now),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        debug!(target: LOG, "every handle dropped, closing");
                        core.close(now, None);
                        core.drain();
                        break;
                    }
                }
            },
            () = timer => {
                // The timer stays elapsed until reset: re-arm on the next turn.
                armed = None;
                let Ok(mut core) = shared.lock() else { return };
                core.client.handle_timeout(Instant::now());
            }
        }
    }
    wind_down(&shared).await;
}

/// The core is shut down and writes nothing more. Frames the sockets
/// could not take at once are written before they close, within the API
/// timeout: an acks=0 record counts as sent once the client took its
/// bytes, so a flush followed by `close` must not drop them. Then each
/// socket's write side is shut down and its reader left to meet the
/// broker's end of stream: closing a socket while answers sit unread in
/// it would send a reset, and a reset discards what the kernel has not
/// yet sent.
async fn wind_down(shared: &Shared) {
    let (mut sockets, limit) = match shared.lock() {
        Ok(mut core) => (core.take_sockets(), core.client.config().api_timeout),
        Err(_) => return,
    };
    let until = tokio::time::Instant::now() + limit;
    let mut writers = Vec::new();
    for socket in sockets.values_mut() {
        if let Some((out, task)) = socket.writer.take() {
            out.finish();
            writers.push(task);
        }
    }
    // Each writer ends once its queue is out, dropping the last reference
    // to the write half, which shuts it.
    for task in writers {
        let _ = tokio::time::timeout_at(until, task).await;
    }
    for socket in sockets.values_mut() {
        let _ = tokio::time::timeout_at(until, &mut socket.task).await;
    }
    if let Ok(mut core) = shared.lock() {
        core.closed_down();
    }
    // Dropping the sockets aborts what still runs.
}

/// Feeds one network message to the core.
fn handle_net(core: &mut Core, shared: &Arc<Shared>, net_tx: &mpsc::Sender<Net>, net: Net) {
    let now = Instant::now();
    match net {
        Net::Connected(conn, stream) => {
            let Some(socket) = core.sockets.get_mut(&conn) else {
                return; // the core gave up on it meanwhile
            };
            let _ = stream.set_nodelay(true);
            let (read, half) = stream.into_split();
            let write = Write {
                half,
                wake: Notify::new(),
            };
            let out = Arc::new(Outbox::new(write, Arc::clone(&core.backlog)));
            let task = tokio::spawn(writer(Arc::clone(&out), conn, net_tx.clone()));
            socket.writer = Some((out, task));
            socket.task = tokio::spawn(reader(read, conn, Arc::clone(shared), net_tx.clone()));
            core.connected(now, conn);
        }
        Net::ConnectFailed(conn, error) => core.connect_failed(now, conn, error),
        Net::Drained => {}
        Net::Closed(conn) => core.closed(now, conn),
    }
}

/// Reads a socket and feeds what arrives to the core.
async fn reader(
    mut read: OwnedReadHalf,
    conn: ConnId,
    shared: Arc<Shared>,
    net: mpsc::Sender<Net>,
) {
    // Bytes not yet cut into frames stay here between reads.
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(READ_CHUNK);
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = net.send(Net::Closed(conn)).await;
                return;
            }
            Ok(_) => {
                if !shared.read(conn, &mut buf) {
                    return;
                }
            }
        }
    }
}

async fn writer(out: Arc<Outbox<Write>>, conn: ConnId, net: mpsc::Sender<Net>) {
    loop {
        match out.next() {
            Next::Frame { frame, drained } => {
                if drained {
                    let _ = net.send(Net::Drained).await;
                }
                if write_frame(&out.writer().half, frame).await.is_err() {
                    out.close();
                    let _ = net.send(Net::Drained).await;
                    let _ = net.send(Net::Closed(conn)).await;
                    return;
                }
            }
            Next::Idle => out.writer().wake.notified().await,
            Next::Done => return,
        }
    }
}

/// Writes all of `frame` through a shared write half.
async fn write_frame(write: &OwnedWriteHalf, mut frame: Bytes) -> io::Result<()> {
    while !frame.is_empty() {
        write.writable().await?;
        match write.try_write(&frame) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => frame.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Frames the socket cannot take at once wait for the writer task and
    /// still arrive whole and in order, behind ones written directly; a
    /// finished outbox writes out its queue and shuts the write side.
    #[tokio::test(flavor = "current_thread")]
    async fn frames_written_directly_or_queued_arrive_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (_read, half) = client.into_split();
        let backlog = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let write = Write {
            half,
            wake: Notify::new(),
        };
        let out = Arc::new(Outbox::new(write, Arc::clone(&backlog)));
        let (net_tx, mut net_rx) = mpsc::channel(4);
        let task = tokio::spawn(writer(Arc::clone(&out), ConnId(1), net_tx));
        // 64 frames of 256 KiB, far more than the socket buffers hold
        // while nobody reads: some must queue.
        let frames: Vec<Bytes> = (0..64u8)
            .map(|i| Bytes::from(vec![i; 256 * 1024]))
            .collect();
        for f in &frames {
            out.send(f.clone());
        }
        assert!(out.busy(), "the socket filled up and frames queued");
        out.send(Bytes::from_static(b"tail"));
        out.finish();
        drop(out);
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), frames.len() * 256 * 1024 + 4);
        for (i, chunk) in got.chunks(256 * 1024).take(64).enumerate() {
            assert!(chunk.iter().all(|b| usize::from(*b) == i), "frame {i}");
        }
        assert!(got.ends_with(b"tail"));
        task.await.unwrap();
        assert_eq!(backlog.load(std::sync::atomic::Ordering::Relaxed), 0);
        let mut drained = false;
        while let Ok(n) = net_rx.try_recv() {
            assert!(matches!(n, Net::Drained), "only Drained is reported");
            drained = true;
        }
        assert!(drained, "the writer said when it went back under the limit");
    }
}
