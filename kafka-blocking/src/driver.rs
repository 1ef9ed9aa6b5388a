//! The driver thread: drains the sans-IO core's outputs, opens and closes
//! sockets as asked, and waits on one channel until the core's next
//! timeout. The core sits behind a lock it shares with the handles (a send
//! runs in the caller's thread) and with the sockets' reader threads,
//! which feed what they read to the core themselves, so that a response
//! reaches its caller without a hop through the driver. Other application
//! calls reach the driver as jobs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
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
struct Socket {
    /// Kept to shut the socket down, which ends both threads.
    stream: Option<TcpStream>,
    writer: Option<mpsc::Sender<Bytes>>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
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
    let mut sockets: HashMap<ConnId, Socket> = HashMap::new();
    let backlog = Arc::new(AtomicUsize::new(0));
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { return };
            drain(&mut core, &mut sockets, &inputs, &backlog);
            if core.is_shut_down() {
                let limit = core.client.config().api_timeout;
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
        handle(&mut core, &mut sockets, &shared, &inputs, &backlog, first);
        for _ in 1..INPUT_BATCH {
            match rx.try_recv() {
                Ok(input) => handle(&mut core, &mut sockets, &shared, &inputs, &backlog, input),
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

fn handle(
    core: &mut Core,
    sockets: &mut HashMap<ConnId, Socket>,
    shared: &Arc<Shared>,
    inputs: &mpsc::SyncSender<Input>,
    backlog: &Arc<AtomicUsize>,
    input: Input,
) {
    let now = Instant::now();
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
                    let (tx, rx) = mpsc::channel();
                    let (net, feed) = (inputs.clone(), Arc::clone(shared));
                    shared.readers.fetch_add(1, Ordering::AcqRel);
                    let spawned = thread::Builder::new()
                        .name(format!("kafka-read-{}", conn.0))
                        .spawn(move || reader(read, conn, &feed, net))
                        .inspect_err(|_| {
                            shared.readers.fetch_sub(1, Ordering::AcqRel);
                        })
                        .and_then(|_| {
                            let (net, backlog) = (inputs.clone(), Arc::clone(backlog));
                            thread::Builder::new()
                                .name(format!("kafka-write-{}", conn.0))
                                .spawn(move || writer(write, rx, conn, net, &backlog))
                        });
                    socket.stream = Some(stream);
                    match spawned {
                        Ok(_) => {
                            socket.writer = Some(tx);
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
    mut sockets: HashMap<ConnId, Socket>,
    backlog: &AtomicUsize,
    limit: Duration,
) {
    let until = Instant::now() + limit;
    let wait = |done: &dyn Fn() -> bool| {
        while !done() && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
    };
    // Writers end once their queue is written.
    for socket in sockets.values_mut() {
        socket.writer = None;
    }
    wait(&|| backlog.load(Ordering::Relaxed) == 0);
    for socket in sockets.values() {
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

/// Executes everything the core asks for, then hands events to waiters.
fn drain(
    core: &mut Core,
    sockets: &mut HashMap<ConnId, Socket>,
    inputs: &mpsc::SyncSender<Input>,
    backlog: &AtomicUsize,
) {
    loop {
        let mut progressed = false;
        // One clock read per pass, not per event: a batch's acknowledgement
        // brings an event for each of its records.
        let now = Instant::now();
        // Past the limit, requests stay in the core until a writer drains
        // (it then sends `Input::Wake`).
        while backlog.load(Ordering::Relaxed) < BACKLOG_LIMIT {
            let Some(t) = core.client.poll_transmit() else {
                break;
            };
            progressed = true;
            // Taking an acks=0 request completes its records: their reports
            // go out now, not piled up in the core behind megabytes of
            // further requests.
            handle_events(core, now);
            if let Some(w) = sockets.get(&t.conn).and_then(|s| s.writer.as_ref()) {
                let len = t.bytes.len();
                backlog.fetch_add(len, Ordering::Relaxed);
                if w.send(t.bytes).is_err() {
                    backlog.fetch_sub(len, Ordering::Relaxed);
                }
            }
        }
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
                            sockets.insert(
                                conn,
                                Socket {
                                    stream: None,
                                    writer: None,
                                },
                            );
                        }
                        Err(e) => core.client.handle_connect_failed(Instant::now(), conn, e),
                    }
                }
                // At shutdown a socket stays until the driver has written
                // out what it holds (see `close_gracefully`).
                ConnRequest::Close { conn } if !core.is_shut_down() => {
                    sockets.remove(&conn);
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

fn writer(
    mut write: TcpStream,
    frames: mpsc::Receiver<Bytes>,
    conn: ConnId,
    net: mpsc::SyncSender<Input>,
    backlog: &AtomicUsize,
) {
    let mut failed = false;
    // Until the driver drops the sender; after a failed write the rest is
    // only counted out, so the backlog never keeps bytes of a dead socket.
    while let Ok(bytes) = frames.recv() {
        let len = bytes.len();
        if !failed && write.write_all(&bytes).is_err() {
            failed = true;
            let _ = net.send(Input::Closed(conn));
        }
        let before = backlog.fetch_sub(len, Ordering::Relaxed);
        if before >= BACKLOG_LIMIT && before - len < BACKLOG_LIMIT {
            let _ = net.try_send(Input::Wake);
        }
    }
}
