//! The driver thread: opens and closes sockets as the sans-IO core asks,
//! drains its other outputs, and waits on one channel until its next
//! timeout. The core sits behind a lock it shares with the handles (a send
//! runs in the caller's thread) and with the sockets' reader threads,
//! which feed what they read to the core themselves. Whoever holds the
//! lock and made a request ready writes it without blocking ([`flush`]),
//! so neither a request nor its response takes a hop through the driver.
//! Other application calls reach the driver as jobs.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_state::{ConnId, ConnRequest};
use tracing::{debug, trace};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::core::{Core, Shared};

const LOG: &str = "kafka_blocking::driver";
/// Inputs handled per wake-up before the driver drains the core's
/// outputs, so replies go out while a socket keeps delivering.
const INPUT_BATCH: usize = 64;
const READ_CHUNK: usize = 64 * 1024;
/// See [`kafka_state::WRITE_BACKLOG_LIMIT`].
const BACKLOG_LIMIT: usize = kafka_state::WRITE_BACKLOG_LIMIT;
/// Inputs queued towards the driver.
const INPUT_QUEUE: usize = 256;

/// Work sent by the application handles.
pub(crate) type Job = Box<dyn FnOnce(&mut Core, Instant) + Send>;

/// Everything the driver thread waits for.
pub(crate) enum Input {
    Job(Job),
    /// A handle's command left the core work: drain it.
    Wake,
    /// Every handle was dropped.
    Stop,
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, String),
    Closed(ConnId),
}

/// The driver's side of one socket.
pub(crate) struct Socket {
    /// Kept to shut the socket down, which ends both threads.
    stream: Option<TcpStream>,
    out: Option<Arc<Outbox>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(out) = &self.out {
            out.close();
        }
    }
}

/// A connection's write side, shared by whoever holds the core's lock and
/// the socket's writer thread. A frame is written at once, without
/// blocking, when nothing is queued and the socket takes it whole (the
/// usual case: a request costs no thread hop); what the socket cannot
/// take yet is queued, and the writer thread finishes it in order.
struct Outbox {
    write: TcpStream,
    /// Bytes queued in every outbox of the client.
    backlog: Arc<AtomicUsize>,
    queue: Mutex<OutQueue>,
    /// Wakes the writer thread: frames were queued, or the socket closed.
    ready: Condvar,
}

#[derive(Default)]
struct OutQueue {
    frames: VecDeque<Bytes>,
    /// The writer thread owns the writing until the queue is empty.
    busy: bool,
    closed: bool,
}

impl Outbox {
    fn new(write: TcpStream, backlog: Arc<AtomicUsize>) -> Self {
        Self {
            write,
            backlog,
            queue: Mutex::new(OutQueue::default()),
            ready: Condvar::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, OutQueue> {
        // Nothing panics while holding it; a poisoned queue is still sound.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `frame` at once if the writer thread is idle and the socket
    /// takes it without blocking; queues the rest for the writer thread.
    fn send(&self, mut frame: Bytes) {
        let mut q = self.queue();
        if q.closed {
            return;
        }
        if !q.busy {
            while !frame.is_empty() {
                match try_write(&self.write, &frame) {
                    Ok(n) if n > 0 => frame.advance(n),
                    // Full, or failed: the writer thread waits, or meets
                    // the error and reports the close.
                    _ => break,
                }
            }
            if frame.is_empty() {
                return;
            }
            q.busy = true;
        }
        self.backlog.fetch_add(frame.len(), Ordering::Relaxed);
        q.frames.push_back(frame);
        self.ready.notify_one();
    }

    /// The writer thread still has frames to write.
    fn busy(&self) -> bool {
        self.queue().busy
    }

    /// Drops what is queued (the core gave up on the connection) and
    /// ends the writer thread.
    fn close(&self) {
        let dropped: usize = {
            let mut q = self.queue();
            q.closed = true;
            q.frames.drain(..).map(|f| f.len()).sum()
        };
        self.backlog.fetch_sub(dropped, Ordering::Relaxed);
        self.ready.notify_one();
    }
}

/// A `send` that never blocks, on a socket that otherwise does.
#[cfg(unix)]
fn try_write(stream: &TcpStream, buf: &[u8]) -> std::io::Result<usize> {
    // Where it exists, MSG_NOSIGNAL turns a write to a reset connection
    // into an error instead of SIGPIPE, as std's own writes do.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
    socket2::SockRef::from(stream).send_with_flags(buf, FLAGS)
}

/// Without a non-blocking `send`, every frame goes to the writer thread.
#[cfg(not(unix))]
fn try_write(_: &TcpStream, _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::WouldBlock.into())
}

/// Starts the driver thread.
pub(crate) fn spawn(mut core: Core) -> std::io::Result<(Arc<Shared>, mpsc::SyncSender<Input>)> {
    let (tx, rx) = mpsc::sync_channel(INPUT_QUEUE);
    core.inputs = Some(tx.clone());
    let shared = Arc::new(Shared::new(core, tx.clone()));
    let (driver, inputs) = (Arc::clone(&shared), tx.clone());
    thread::Builder::new()
        .name("kafka-driver".into())
        .spawn(move || run(driver, rx, inputs))?;
    Ok((shared, tx))
}

/// Marks the driver stopped when the thread leaves `run`, even by a panic.
struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.stopped();
    }
}

fn run(shared: Arc<Shared>, rx: mpsc::Receiver<Input>, inputs: mpsc::SyncSender<Input>) {
    let _running = Running(&shared);
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { return };
            drain(&mut core, &inputs);
            if core.is_shut_down() {
                let limit = core.client.config().api_timeout;
                // The core is shut down and writes nothing more.
                let sockets = std::mem::take(&mut core.sockets);
                let backlog = Arc::clone(&core.backlog);
                drop(core);
                close_gracefully(&shared, sockets, &backlog, limit);
                return;
            }
            // Whatever handles flagged is handled by this drain.
            let _ = core.client.take_wakeup();
            core.armed = core.client.poll_timeout();
            core.armed
        };
        let first = match deadline {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(input) => Some(input),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match rx.recv() {
                Ok(input) => Some(input),
                Err(_) => return,
            },
        };
        let Ok(mut core) = shared.lock() else { return };
        let Some(first) = first else {
            core.client.handle_timeout(Instant::now());
            continue;
        };
        handle(&mut core, &shared, &inputs, first);
        for _ in 1..INPUT_BATCH {
            match rx.try_recv() {
                Ok(input) => handle(&mut core, &shared, &inputs, input),
                Err(_) => break,
            }
        }
        // Inputs may arrive faster than timers come due.
        if core
            .client
            .poll_timeout()
            .is_some_and(|at| at <= Instant::now())
        {
            core.client.handle_timeout(Instant::now());
        }
    }
}

fn handle(core: &mut Core, shared: &Arc<Shared>, inputs: &mpsc::SyncSender<Input>, input: Input) {
    let now = Instant::now();
    let Core {
        sockets, backlog, ..
    } = core;
    match input {
        Input::Job(job) => job(core, now),
        Input::Wake => {}
        Input::Stop => {
            debug!(target: LOG, "every handle dropped, closing");
            core.close(now);
        }
        Input::Connected(conn, stream) => {
            let Some(socket) = sockets.get_mut(&conn) else {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            };
            let _ = stream.set_nodelay(true);
            match (stream.try_clone(), stream.try_clone()) {
                (Ok(read), Ok(write)) => {
                    let out = Arc::new(Outbox::new(write, Arc::clone(backlog)));
                    let (net, feed) = (inputs.clone(), Arc::clone(shared));
                    shared.readers.fetch_add(1, Ordering::AcqRel);
                    let spawned = thread::Builder::new()
                        .name(format!("kafka-read-{}", conn.0))
                        .spawn(move || reader(read, conn, &feed, net))
                        .inspect_err(|_| {
                            shared.readers.fetch_sub(1, Ordering::AcqRel);
                        })
                        .and_then(|_| {
                            let (net, out) = (inputs.clone(), Arc::clone(&out));
                            thread::Builder::new()
                                .name(format!("kafka-write-{}", conn.0))
                                .spawn(move || writer(&out, conn, net))
                        });
                    socket.stream = Some(stream);
                    match spawned {
                        Ok(_) => {
                            socket.out = Some(out);
                            core.client.handle_connected(now, conn);
                        }
                        Err(e) => {
                            sockets.remove(&conn);
                            core.client.handle_connect_failed(now, conn, e);
                        }
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    sockets.remove(&conn);
                    core.client.handle_connect_failed(now, conn, e);
                }
            }
        }
        Input::ConnectFailed(conn, error) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_connect_failed(now, conn, error);
            }
        }
        Input::Closed(conn) => {
            if sockets.remove(&conn).is_some() {
                core.client.handle_closed(now, conn);
            }
        }
    }
}

/// Writes out what the writer threads still hold, shuts each socket's
/// write side and lets its reader meet the broker's end of stream (all
/// within `limit`), then tells those waiting in `close`. Closing a socket
/// while answers sit unread in it would send a reset, and a reset
/// discards what the kernel has not yet sent: acks=0 records count as sent
/// once the client took their bytes, so a flush followed by `close` must
/// not lose them.
fn close_gracefully(
    shared: &Shared,
    sockets: HashMap<ConnId, Socket>,
    backlog: &AtomicUsize,
    limit: Duration,
) {
    let until = Instant::now() + limit;
    let wait = |done: &dyn Fn() -> bool| {
        while !done() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
    };
    wait(&|| {
        backlog.load(Ordering::Relaxed) == 0
            && sockets
                .values()
                .filter_map(|s| s.out.as_ref())
                .all(|out| !out.busy())
    });
    for socket in sockets.values() {
        if let Some(out) = &socket.out {
            out.close();
        }
        if let Some(s) = &socket.stream {
            let _ = s.shutdown(Shutdown::Write);
        }
    }
    wait(&|| shared.readers.load(Ordering::Acquire) == 0);
    drop(sockets);
    if let Ok(mut core) = shared.lock() {
        for done in core.closing.drain(..) {
            let _ = done.send(());
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
/// `Input::Wake`). Run by whoever holds the lock and may have made a
/// request ready: the driver, a sender, a socket reader after a response.
/// Says whether anything was written.
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
        if let Some(out) = core.sockets.get(&t.conn).and_then(|s| s.out.as_ref()) {
            out.send(t.bytes);
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
fn drain(core: &mut Core, inputs: &mpsc::SyncSender<Input>) {
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
                    let net = inputs.clone();
                    let timeout = core.client.config().connection_setup_timeout;
                    let spawned = thread::Builder::new()
                        .name(format!("kafka-connect-{}", conn.0))
                        .spawn(move || {
                            let msg = match connect(&host, port, timeout) {
                                Ok(stream) => Input::Connected(conn, stream),
                                Err(e) => Input::ConnectFailed(conn, e.to_string()),
                            };
                            let _ = net.send(msg);
                        });
                    match spawned {
                        Ok(_) => {
                            core.sockets.insert(
                                conn,
                                Socket {
                                    stream: None,
                                    out: None,
                                },
                            );
                        }
                        Err(e) => core.client.handle_connect_failed(Instant::now(), conn, e),
                    }
                }
                // At shutdown a socket stays until the driver has written
                // out what it holds (see `close_gracefully`).
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

/// Resolves `host` and tries each address in turn.
fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "host resolved to no address")
    }))
}

/// Reads a socket and feeds what arrives to the core under the lock,
/// handing out the events that follow (delivery reports, fetched
/// records) at once; the driver is woken only if the core has output for
/// it or a timeout sooner than the one it waits until. Holding the lock
/// while the core digests a read is also the back-pressure: nothing more
/// is read from this socket until then.
fn reader(mut read: TcpStream, conn: ConnId, shared: &Shared, net: mpsc::SyncSender<Input>) {
    // Reads land here and only what arrived is copied on: zeroing a fresh
    // 64 KiB for every (usually small) response cost more.
    let mut chunk = vec![0u8; READ_CHUNK];
    // Bytes not yet cut into frames stay here between reads.
    let mut buf = BytesMut::new();
    // Counted out when this thread is done reading, before it reports the
    // close: after shutdown nobody takes that report.
    struct Reading<'a>(&'a Shared);
    impl Drop for Reading<'_> {
        fn drop(&mut self) {
            self.0.readers.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let reading = Reading(shared);
    loop {
        match read.read(&mut chunk) {
            Ok(0) | Err(_) => {
                drop(reading);
                let _ = net.send(Input::Closed(conn));
                return;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
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
                    shared.wake();
                }
            }
        }
    }
}

fn writer(out: &Outbox, conn: ConnId, net: mpsc::SyncSender<Input>) {
    loop {
        let frame = {
            let mut q = out.queue();
            loop {
                if let Some(frame) = q.frames.pop_front() {
                    break frame;
                }
                q.busy = false;
                if q.closed {
                    return;
                }
                q = out.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let len = frame.len();
        let before = out.backlog.fetch_sub(len, Ordering::Relaxed);
        if before >= BACKLOG_LIMIT && before - len < BACKLOG_LIMIT {
            let _ = net.try_send(Input::Wake);
        }
        if (&out.write).write_all(&frame).is_err() {
            // What is still queued is counted out with the close.
            out.close();
            let _ = net.send(Input::Closed(conn));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Frames the socket cannot take at once wait for the writer thread
    /// and still arrive whole and in order, behind ones written directly.
    #[test]
    fn frames_written_directly_or_queued_arrive_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let backlog = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Outbox::new(
            client.try_clone().unwrap(),
            Arc::clone(&backlog),
        ));
        let (net_tx, net_rx) = mpsc::sync_channel(4);
        let task = {
            let out = Arc::clone(&out);
            thread::spawn(move || writer(&out, ConnId(1), net_tx))
        };
        // 64 frames of 256 KiB, far more than the socket buffers hold
        // while nobody reads: some must queue.
        let frames: Vec<Bytes> = (0..64u8)
            .map(|i| Bytes::from(vec![i; 256 * 1024]))
            .collect();
        for f in &frames {
            out.send(f.clone());
        }
        assert!(out.busy(), "the socket filled up and frames queued");
        let mut got = vec![0u8; frames.len() * 256 * 1024];
        server.read_exact(&mut got).unwrap();
        for (i, chunk) in got.chunks(256 * 1024).enumerate() {
            assert!(chunk.iter().all(|b| usize::from(*b) == i), "frame {i}");
        }
        // Written directly again once the queue drained.
        let until = Instant::now() + Duration::from_secs(10);
        while out.busy() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(!out.busy(), "the writer thread gave the socket back");
        out.send(Bytes::from_static(b"tail"));
        assert!(!out.busy(), "a small frame went out without the writer");
        let mut tail = [0u8; 4];
        server.read_exact(&mut tail).unwrap();
        assert_eq!(&tail, b"tail");
        // Closing ends the thread; 16 MiB went through the queue and the
        // backlog crossed the limit and came back to nothing.
        out.close();
        task.join().unwrap();
        assert_eq!(backlog.load(Ordering::Relaxed), 0);
        let mut woke = false;
        while let Ok(input) = net_rx.try_recv() {
            assert!(matches!(input, Input::Wake), "only wake-ups are reported");
            woke = true;
        }
        assert!(woke, "the writer said when it went back under the limit");
        // A closed outbox takes nothing more.
        out.send(Bytes::from_static(b"late"));
        drop(client);
        drop(out);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after the close: {rest:?}");
    }
}
