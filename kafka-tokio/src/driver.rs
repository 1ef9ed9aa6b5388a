//! The driver task: the only owner of the sans-IO core. It reads sockets
//! into per-connection buffers, feeds the core, drains its outputs, opens
//! and closes sockets as asked, and sleeps until the core's next timeout.
//! Application calls reach it as jobs: closures run against [`Core`].

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_state::{ConnId, ConnRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace};

use std::sync::Arc;

use crate::core::{Core, Shared};

const LOG: &str = "kafka_tokio::driver";
/// Network messages handled per wake-up before the driver looks at jobs
/// and timers again, so one busy socket cannot starve the rest.
const NET_BATCH: usize = 64;
/// Application calls handled per wake-up before the driver drains the
/// core's outputs.
const JOB_BATCH: usize = 256;
/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// Reads queued towards the driver per all connections; a full queue
/// stops the readers, which pushes back on the brokers through TCP.
const NET_QUEUE: usize = 256;

/// Work sent by the application handles.
pub(crate) type Job = Box<dyn FnOnce(&mut Core, Instant) + Send>;

/// What socket tasks report.
enum Net {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, String),
    Data(ConnId, BytesMut),
    Closed(ConnId),
}

/// A socket's driver-side half.
struct Socket {
    /// Frames to write; dropping it ends the writer task, which shuts
    /// the write side down.
    writer: Option<mpsc::UnboundedSender<Bytes>>,
    /// The connect task, then the reader task.
    task: JoinHandle<()>,
    /// Received bytes not yet cut into frames.
    buf: BytesMut,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs until every application handle is gone or the core shut down.
pub(crate) async fn run(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let (net_tx, mut net_rx) = mpsc::channel::<Net>(NET_QUEUE);
    let mut sockets: HashMap<ConnId, Socket> = HashMap::new();
    // One timer for the driver's life, moved only when the core's deadline
    // changes: registering a fresh timer on every wake-up (once per record
    // sent) showed up in producer profiles.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { break };
            drain(&mut core, &mut sockets, &net_tx);
            if core.is_shut_down() {
                break;
            }
            // Whatever handles flagged is handled by this drain.
            let _ = core.client.take_wakeup();
            core.client.poll_timeout()
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
                let Ok(mut core) = shared.lock() else { break };
                handle_net(&mut core, &mut sockets, &net_tx, first);
                for _ in 1..NET_BATCH {
                    match net_rx.try_recv() {
                        Ok(net) => handle_net(&mut core, &mut sockets, &net_tx, net),
                        Err(_) => break,
                    }
                }
            }
            // A handle's command left work: the drain at the top does it.
            () = shared.wake.notified() => {}
            job = jobs.recv() => {
                let Ok(mut core) = shared.lock() else { break };
                match job {
                    Some(job) => {
                        // Take what else is queued before draining the core's
                        // outputs once: a burst of calls becomes one pass.
                        let now = Instant::now();
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
                        core.close(Instant::now());
                        drain(&mut core, &mut sockets, &net_tx);
                        break;
                    }
                }
            },
            () = timer => {
                // The timer stays elapsed until reset: re-arm on the next turn.
                armed = None;
                let Ok(mut core) = shared.lock() else { break };
                core.client.handle_timeout(Instant::now());
            }
        }
    }
    // Dropping the sockets aborts their tasks and closes them.
}

/// Feeds one network message to the core.
fn handle_net(
    core: &mut Core,
    sockets: &mut HashMap<ConnId, Socket>,
    net_tx: &mpsc::Sender<Net>,
    net: Net,
) {
    let now = Instant::now();
    match net {
        Net::Connected(conn, stream) => {
            let Some(socket) = sockets.get_mut(&conn) else {
                return; // the core gave up on it meanwhile
            };
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(write, rx, conn, net_tx.clone()));
            socket.writer = Some(tx);
            socket.task = tokio::spawn(reader(read, conn, net_tx.clone()));
            core.client.handle_connected(now, conn);
        }
        Net::ConnectFailed(conn, error) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_connect_failed(now, conn, error);
            }
        }
        Net::Data(conn, bytes) => {
            let Some(socket) = sockets.get_mut(&conn) else {
                return;
            };
            if socket.buf.is_empty() {
                socket.buf = bytes;
            } else {
                socket.buf.extend_from_slice(&bytes);
            }
            core.client.handle_recv(now, conn, &mut socket.buf);
        }
        Net::Closed(conn) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_closed(now, conn);
            }
        }
    }
}

/// Executes everything the core asks for, then hands events to waiters.
fn drain(core: &mut Core, sockets: &mut HashMap<ConnId, Socket>, net_tx: &mpsc::Sender<Net>) {
    loop {
        let mut progressed = false;
        while let Some(t) = core.client.poll_transmit() {
            progressed = true;
            if let Some(w) = sockets.get(&t.conn).and_then(|s| s.writer.as_ref()) {
                // A failed send means the writer already reported the close.
                let _ = w.send(t.bytes);
            }
        }
        while let Some(req) = core.client.poll_conn() {
            progressed = true;
            match req {
                ConnRequest::Open { conn, host, port } => {
                    trace!(target: LOG, %conn, %host, port, "connecting");
                    let net = net_tx.clone();
                    let task = tokio::spawn(async move {
                        let msg = match TcpStream::connect((host.as_str(), port)).await {
                            Ok(stream) => Net::Connected(conn, stream),
                            Err(e) => Net::ConnectFailed(conn, e.to_string()),
                        };
                        let _ = net.send(msg).await;
                    });
                    sockets.insert(
                        conn,
                        Socket {
                            writer: None,
                            task,
                            buf: BytesMut::new(),
                        },
                    );
                }
                ConnRequest::Close { conn } => {
                    sockets.remove(&conn);
                }
                other => debug!(target: LOG, ?other, "unknown connection request"),
            }
        }
        while let Some(event) = core.client.poll_event() {
            progressed = true;
            core.handle_event(Instant::now(), event);
        }
        let Core { client, calls, .. } = &mut *core;
        progressed |= calls.serve_pull(client, Instant::now());
        if !progressed {
            break;
        }
    }
}

async fn reader(mut read: OwnedReadHalf, conn: ConnId, net: mpsc::Sender<Net>) {
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(READ_CHUNK);
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = net.send(Net::Closed(conn)).await;
                return;
            }
            Ok(_) => {
                if net.send(Net::Data(conn, buf.split())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn writer(
    mut write: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    conn: ConnId,
    net: mpsc::Sender<Net>,
) {
    while let Some(bytes) = frames.recv().await {
        if write.write_all(&bytes).await.is_err() {
            let _ = net.send(Net::Closed(conn)).await;
            return;
        }
    }
    let _ = write.shutdown().await;
}
