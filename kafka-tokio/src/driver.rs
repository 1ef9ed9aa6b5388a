//! The driver task: opens and closes sockets as the sans-IO core asks,
//! drains its other outputs, and sleeps until its next timeout. The core
//! sits behind a lock it shares with the handles (hot commands such as a
//! send run in the caller) and with the sockets' reader tasks, which feed
//! received bytes to the core themselves. Whoever holds the lock and made
//! a request ready writes it ([`flush`]), so neither a request nor its
//! response takes a hop through the driver. Other application calls reach
//! the driver as jobs: closures run against [`Core`].

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use kafka_state::{ConnId, ConnRequest};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace};

use std::sync::atomic::{AtomicUsize, Ordering};
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
/// See [`kafka_state::WRITE_BACKLOG_LIMIT`].
const BACKLOG_LIMIT: usize = kafka_state::WRITE_BACKLOG_LIMIT;
/// Socket events queued towards the driver.
const NET_QUEUE: usize = 256;

/// Work sent by the application handles.
pub(crate) type Job = Box<dyn FnOnce(&mut Core, Instant) + Send>;

/// What socket tasks report.
enum Net {
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, String),
    Closed(ConnId),
    /// Writer tasks went back under [`BACKLOG_LIMIT`].
    Drained,
}

/// A socket's driver-side half.
pub(crate) struct Socket {
    /// Where frames go once connected, and the task writing what the
    /// socket could not take at once. The core has given up on a socket it
    /// closes, so what is still queued is dropped with it.
    writer: Option<(Arc<Outbox>, JoinHandle<()>)>,
    /// The connect task, then the reader task.
    task: JoinHandle<()>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.task.abort();
        if let Some((out, task)) = &self.writer {
            out.close();
            task.abort();
        }
    }
}

/// A connection's write side, shared by the driver and the socket's
/// writer task. The driver writes a frame itself when nothing is queued
/// and the socket takes it whole (the usual case: a request costs no
/// task hop); what the socket cannot take yet is queued, and the writer
/// task finishes it in order once the socket is writable.
struct Outbox {
    write: OwnedWriteHalf,
    /// Bytes queued in every outbox of the driver.
    backlog: Arc<AtomicUsize>,
    queue: std::sync::Mutex<OutQueue>,
    /// Wakes the writer task: frames were queued, or the socket closed.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct OutQueue {
    frames: std::collections::VecDeque<Bytes>,
    /// The writer task owns the writing until the queue is empty.
    busy: bool,
    closed: bool,
}

impl Outbox {
    fn new(write: OwnedWriteHalf, backlog: Arc<AtomicUsize>) -> Self {
        Self {
            write,
            backlog,
            queue: std::sync::Mutex::new(OutQueue::default()),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, OutQueue> {
        // Nothing panics while holding it; a poisoned queue is still sound.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `frame` at once if the writer task is idle and the socket
    /// takes it; queues the rest for the writer task.
    fn send(&self, mut frame: Bytes) {
        let mut q = self.queue();
        if q.closed {
            return;
        }
        if !q.busy {
            while !frame.is_empty() {
                match self.write.try_write(&frame) {
                    Ok(n) if n > 0 => frame.advance(n),
                    // Full, or failed: the writer task waits, or meets the
                    // error and reports the close.
                    _ => break,
                }
            }
            if frame.is_empty() {
                return;
            }
            q.busy = true;
            self.wake.notify_one();
        }
        self.backlog.fetch_add(frame.len(), Ordering::Relaxed);
        q.frames.push_back(frame);
    }

    /// The writer task still has frames to write.
    fn busy(&self) -> bool {
        self.queue().busy
    }

    /// Drops what is queued (the core gave up on the connection) and
    /// ends the writer task.
    fn close(&self) {
        let dropped: usize = {
            let mut q = self.queue();
            q.closed = true;
            q.frames.drain(..).map(|f| f.len()).sum()
        };
        self.backlog.fetch_sub(dropped, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// Runs until every application handle is gone or the core shut down.
pub(crate) async fn run(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let (net_tx, mut net_rx) = mpsc::channel::<Net>(NET_QUEUE);
    // One timer for the driver's life, moved only when the core's deadline
    // changes: registering a fresh timer on every wake-up (once per record
    // sent) showed up in producer profiles.
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<Instant> = None;
    let close_limit = match shared.lock() {
        Ok(core) => core.client.config().api_timeout,
        Err(_) => return,
    };
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { break };
            drain(&mut core, &net_tx);
            if core.is_shut_down() {
                break;
            }
            // Whatever handles flagged is handled by this drain.
            let _ = core.client.take_wakeup();
            core.armed = core.client.poll_timeout();
            core.armed
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
                handle_net(&mut core, &shared, &net_tx, first);
                for _ in 1..NET_BATCH {
                    match net_rx.try_recv() {
                        Ok(net) => handle_net(&mut core, &shared, &net_tx, net),
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
                        drain(&mut core, &net_tx);
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
    // Frames the sockets could not take at once are written before the
    // sockets close, within a bound: an acks=0 record counts as sent once
    // the client took its bytes, so a flush followed by `close` must not
    // drop them. The core is shut down and writes nothing more.
    let mut sockets = match shared.lock() {
        Ok(mut core) => std::mem::take(&mut core.sockets),
        Err(_) => return,
    };
    let until = tokio::time::Instant::now() + close_limit;
    while tokio::time::Instant::now() < until
        && sockets
            .values()
            .filter_map(|s| s.writer.as_ref())
            .any(|(out, _)| out.busy())
    {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    // Then each socket's write side is shut down (the writer task ends
    // and the last reference to the write half goes), and its reader is
    // left to meet the broker's end of stream. Closing a socket while
    // answers sit unread in it would send a reset, and a reset discards
    // what the kernel has not yet sent.
    for socket in sockets.values_mut() {
        if let Some((out, _writer)) = socket.writer.take() {
            out.close();
        }
    }
    while tokio::time::Instant::now() < until && sockets.values().any(|s| !s.task.is_finished()) {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    if let Ok(mut core) = shared.lock() {
        for done in core.closing.drain(..) {
            let _ = done.send(());
        }
    }
    // Dropping the sockets aborts their tasks and closes them.
}

/// Feeds one network message to the core.
fn handle_net(core: &mut Core, shared: &Arc<Shared>, net_tx: &mpsc::Sender<Net>, net: Net) {
    let now = Instant::now();
    let Core {
        sockets, backlog, ..
    } = core;
    match net {
        Net::Connected(conn, stream) => {
            let Some(socket) = sockets.get_mut(&conn) else {
                return; // the core gave up on it meanwhile
            };
            let _ = stream.set_nodelay(true);
            let (read, write) = stream.into_split();
            let out = Arc::new(Outbox::new(write, Arc::clone(backlog)));
            let task = tokio::spawn(writer(Arc::clone(&out), conn, net_tx.clone()));
            socket.writer = Some((out, task));
            socket.task = tokio::spawn(reader(read, conn, Arc::clone(shared), net_tx.clone()));
            core.client.handle_connected(now, conn);
        }
        Net::ConnectFailed(conn, error) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_connect_failed(now, conn, error);
            }
        }
        Net::Drained => {}
        Net::Closed(conn) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_closed(now, conn);
            }
        }
    }
}

/// Hands every event the core has to whoever waits for it.
fn handle_events(core: &mut Core, now: Instant) -> bool {
    let mut any = false;
    while let Some(event) = core.client.poll_event() {
        any = true;
        core.handle_event(now, event);
    }
    any
}

/// Writes the core's transmits to their sockets, up to the backlog limit
/// (past it, requests stay in the core until a writer drains and sends
/// `Net::Drained`). Run by whoever holds the lock and may have made a
/// request ready: the driver, a handle after a command, a socket reader
/// after a response. Says whether anything was written.
pub(crate) fn flush(core: &mut Core, now: Instant) -> bool {
    let mut any = false;
    while core.backlog.load(Ordering::Relaxed) < BACKLOG_LIMIT {
        let Some(t) = core.client.poll_transmit() else {
            break;
        };
        any = true;
        // Taking an acks=0 request completes its records: their reports go
        // out now, not piled up in the core behind megabytes of further
        // requests.
        handle_events(core, now);
        if let Some((w, _)) = core.sockets.get(&t.conn).and_then(|s| s.writer.as_ref()) {
            w.send(t.bytes);
        }
    }
    any
}

/// After a handle's command on the core: writes the requests it made
/// ready, and says whether the driver must wake for what else it left (a
/// connection to open, a sooner timeout). Most sends only append to a
/// batch and leave the core's flag clear, which costs nothing here.
pub(crate) fn after_command(core: &mut Core, now: Instant) -> bool {
    core.client.take_wakeup() && {
        flush(core, now);
        let armed = core.armed;
        core.client.take_wakeup_for(armed) || core.is_shut_down()
    }
}

/// Executes everything the core asks for, then hands events to waiters.
fn drain(core: &mut Core, net_tx: &mpsc::Sender<Net>) {
    loop {
        // One clock read per pass, not per event: a batch's acknowledgement
        // brings an event for each of its records.
        let now = Instant::now();
        let mut progressed = flush(core, now);
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
                    core.sockets.insert(conn, Socket { writer: None, task });
                }
                // At shutdown a socket stays until the driver has written
                // out what it holds (see the end of `run`).
                ConnRequest::Close { conn } if !core.is_shut_down() => {
                    core.sockets.remove(&conn);
                }
                ConnRequest::Close { .. } => {}
                other => debug!(target: LOG, ?other, "unknown connection request"),
            }
        }
        progressed |= handle_events(core, now);
        let Core { client, calls, .. } = &mut *core;
        progressed |= calls.serve_pull(client, now);
        if !progressed {
            break;
        }
    }
}

/// Reads a socket and feeds what arrives to the core under the lock,
/// handing out the events that follows (delivery reports, fetched
/// records) at once; the driver is woken only if the core has output for
/// it or a timeout sooner than the one it sleeps until. Holding the lock
/// while the core digests a read is also the back-pressure: nothing more
/// is read from this socket until then.
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
                let wake = {
                    let Ok(mut core) = shared.lock() else { return };
                    let now = Instant::now();
                    core.client.handle_recv(now, conn, &mut buf);
                    handle_events(&mut core, now);
                    // A response frees an in-flight slot: the next request
                    // goes out from here.
                    flush(&mut core, now);
                    let Core { client, calls, .. } = &mut *core;
                    calls.serve_pull(client, now);
                    let armed = core.armed;
                    core.client.take_wakeup_for(armed) || core.is_shut_down()
                };
                if wake {
                    shared.wake.notify_one();
                }
            }
        }
    }
}

async fn writer(out: Arc<Outbox>, conn: ConnId, net: mpsc::Sender<Net>) {
    loop {
        out.wake.notified().await;
        // Frames go out in order; a close empties the queue.
        loop {
            let frame = {
                let mut q = out.queue();
                match q.frames.pop_front() {
                    Some(f) => f,
                    None => {
                        q.busy = false;
                        if q.closed {
                            drop(q);
                            // Dropping the last reference shuts the write side.
                            return;
                        }
                        break;
                    }
                }
            };
            // Counted out before the write: a writer aborted mid-write
            // (its socket closed) must not leave its frame in the count.
            let len = frame.len();
            let before = out.backlog.fetch_sub(len, Ordering::Relaxed);
            if before >= BACKLOG_LIMIT && before - len < BACKLOG_LIMIT {
                let _ = net.send(Net::Drained).await;
            }
            if write_frame(&out.write, frame).await.is_err() {
                out.close();
                let _ = net.send(Net::Drained).await;
                let _ = net.send(Net::Closed(conn)).await;
                return;
            }
        }
    }
}

/// Writes all of `frame` through a shared write half.
async fn write_frame(write: &OwnedWriteHalf, mut frame: Bytes) -> std::io::Result<()> {
    while !frame.is_empty() {
        write.writable().await?;
        match write.try_write(&frame) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => frame.advance(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// Frames the socket cannot take at once wait for the writer task and
    /// still arrive whole and in order, behind ones written directly.
    #[tokio::test(flavor = "current_thread")]
    async fn frames_written_directly_or_queued_arrive_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (_read, write) = client.into_split();
        let backlog = Arc::new(AtomicUsize::new(0));
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
        assert!(out.queue().busy, "the socket filled up and frames queued");
        let mut got = vec![0u8; frames.len() * 256 * 1024];
        server.read_exact(&mut got).await.unwrap();
        for (i, chunk) in got.chunks(256 * 1024).enumerate() {
            assert!(chunk.iter().all(|b| usize::from(*b) == i), "frame {i}");
        }
        // A direct write again once the queue drained.
        tokio::task::yield_now().await;
        out.send(Bytes::from_static(b"tail"));
        let mut tail = [0u8; 4];
        server.read_exact(&mut tail).await.unwrap();
        assert_eq!(&tail, b"tail");
        // Closing ends the task and shuts the write side: the peer sees EOF.
        out.close();
        drop(out);
        task.await.unwrap();
        assert_eq!(server.read(&mut tail).await.unwrap(), 0);
        // 16 MiB went through the queue: the backlog crossed the limit and
        // came back to nothing, and no error was reported.
        assert_eq!(backlog.load(Ordering::Relaxed), 0);
        let mut drained = false;
        while let Ok(n) = net_rx.try_recv() {
            assert!(matches!(n, Net::Drained), "only Drained is reported");
            drained = true;
        }
        assert!(drained, "the writer said when it went back under the limit");
    }
}
