//! The driver thread and the sockets: the threads' part of the shared
//! core.
//!
//! The core sits behind a lock it shares with the handles (a send runs
//! in the caller's thread) and with the sockets' reader threads, which
//! feed what they read to the core themselves. Whoever holds the lock and
//! made a request ready writes it without blocking, so neither a request
//! nor its response takes a hop through the driver. Other application
//! calls reach the driver as jobs.

use std::io::{self, Read, Write as _};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_driver::threads::{Task, Tasks};
use kafka_driver::{Outbox, Runtime, TryWrite, Wake, READ_CHUNK};
use kafka_state::ConnId;
use tracing::debug;

use crate::TokenResult;

const LOG: &str = "kafka_blocking::driver";
/// Inputs handled per wake-up before the driver drains the core, so
/// replies go out while a socket keeps delivering.
const INPUT_BATCH: usize = 64;
/// Inputs queued towards the driver.
const INPUT_QUEUE: usize = 256;

pub(crate) type Core = kafka_driver::Core<Threads>;
pub(crate) type Shared = kafka_driver::Shared<Threads, Ext>;
pub(crate) type Job = kafka_driver::Job<Threads>;

/// Everything the driver thread waits for.
pub(crate) enum Input {
    Job(Job),
    /// A handle's command left the core work: drain it.
    Wake,
    /// Every handle was dropped.
    Stop,
    Connected(ConnId, TcpStream),
    ConnectFailed(ConnId, io::Error),
    Closed(ConnId),
}

/// The threads' part of the core.
pub(crate) struct Threads {
    inputs: mpsc::SyncSender<Input>,
    oauth: Option<Arc<dyn TokenProvider>>,
    room: Arc<Condvar>,
}

/// What the handles reach without the lock.
#[derive(Debug)]
pub(crate) struct Ext {
    inputs: mpsc::SyncSender<Input>,
    /// Cleared when the driver thread ends, however it ends: nobody would
    /// deliver what a handle queued after that.
    pub(crate) running: AtomicBool,
    /// Signalled, under the core's lock, when the producer's buffer has
    /// room again or the client stops.
    pub(crate) room: Arc<Condvar>,
    readers: Arc<Tasks>,
    writers: Arc<Tasks>,
}

impl Wake for Ext {
    fn wake(&self) {
        // A full queue means the driver has inputs to handle, after which
        // it drains anyway.
        let _ = self.inputs.try_send(Input::Wake);
    }
}

/// A write that never blocks, on a socket that otherwise does.
pub(crate) struct SocketWrite(TcpStream);

impl TryWrite for SocketWrite {
    #[cfg(unix)]
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        // Where it exists, MSG_NOSIGNAL turns a write to a reset
        // connection into an error instead of SIGPIPE, as std's own
        // writes do.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
        socket2::SockRef::from(&self.0).send_with_flags(buf, FLAGS)
    }

    /// Without a non-blocking `send`, every frame goes to the writer.
    #[cfg(not(unix))]
    fn try_write(&self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// The driver's side of one socket.
pub(crate) struct Socket {
    /// Kept to shut the socket down, which ends both threads.
    stream: Option<TcpStream>,
    out: Option<Arc<Outbox<SocketWrite>>>,
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

/// Supplies SASL OAUTHBEARER tokens, on a thread of its own, whenever a
/// connection needs one (first use, expiry). Any `Fn() -> TokenResult`
/// that is `Send + Sync` is one.
pub trait TokenProvider: Send + Sync + 'static {
    /// Fetches a token; may block.
    fn token(&self) -> TokenResult;
}

impl<F: Fn() -> TokenResult + Send + Sync + 'static> TokenProvider for F {
    fn token(&self) -> TokenResult {
        self()
    }
}

impl Runtime for Threads {
    type Socket = Socket;
    type Delivered = kafka_driver::threads::Delivered;

    fn open(
        &mut self,
        conn: ConnId,
        host: String,
        port: u16,
        timeout: Duration,
    ) -> io::Result<Socket> {
        let inputs = self.inputs.clone();
        thread::Builder::new()
            .name(format!("kafka-connect-{}", conn.0))
            .spawn(move || {
                let msg = match connect(&host, port, timeout) {
                    Ok(stream) => Input::Connected(conn, stream),
                    Err(e) => Input::ConnectFailed(conn, e),
                };
                let _ = inputs.send(msg);
            })?;
        Ok(Socket {
            stream: None,
            out: None,
        })
    }

    fn write(socket: &Socket, frame: Bytes) {
        if let Some(out) = &socket.out {
            out.send(frame);
        }
    }

    fn room(&self) {
        self.room.notify_all();
    }

    fn fetch_token(&mut self) -> bool {
        let Some(provider) = self.oauth.clone() else {
            return false;
        };
        let inputs = self.inputs.clone();
        thread::Builder::new()
            .name("kafka-oauth".into())
            .spawn(move || {
                let result = provider.token();
                let _ = inputs.send(Input::Job(Box::new(move |core: &mut Core, now| {
                    core.token_fetched(now, result)
                })));
            })
            .is_ok()
    }
}

/// Starts the driver thread.
pub(crate) fn spawn(
    client: kafka_state::Client,
    oauth: Option<Arc<dyn TokenProvider>>,
) -> io::Result<(Arc<Shared>, mpsc::SyncSender<Input>)> {
    let (inputs, rx) = mpsc::sync_channel(INPUT_QUEUE);
    let room = Arc::new(Condvar::new());
    let rt = Threads {
        inputs: inputs.clone(),
        oauth,
        room: Arc::clone(&room),
    };
    let ext = Ext {
        inputs: inputs.clone(),
        running: AtomicBool::new(true),
        room,
        readers: Arc::default(),
        writers: Arc::default(),
    };
    let shared = Arc::new(Shared::new(Core::new(client, rt), ext));
    let driver = Arc::clone(&shared);
    thread::Builder::new()
        .name("kafka-driver".into())
        .spawn(move || run(driver, rx))?;
    Ok((shared, inputs))
}

/// Marks the driver stopped when the thread leaves `run`, even by a
/// panic. Under the lock, so that a sender between its check of `running`
/// and its wait cannot miss it.
struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _core = self.0.mutex().lock();
        self.0.ext.running.store(false, Ordering::Release);
        self.0.ext.room.notify_all();
    }
}

fn run(shared: Arc<Shared>, rx: mpsc::Receiver<Input>) {
    let _running = Running(&shared);
    loop {
        let deadline = {
            let Ok(mut core) = shared.lock() else { return };
            core.drain();
            if core.is_shut_down() {
                drop(core);
                wind_down(&shared);
                return;
            }
            core.arm()
        };
        let first = match deadline {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(input) => Some(input),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
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
        handle(&mut core, &shared, first);
        for _ in 1..INPUT_BATCH {
            match rx.try_recv() {
                Ok(input) => handle(&mut core, &shared, input),
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

fn handle(core: &mut Core, shared: &Arc<Shared>, input: Input) {
    let now = Instant::now();
    match input {
        Input::Job(job) => job(core, now),
        Input::Wake => {}
        Input::Stop => {
            debug!(target: LOG, "every handle dropped, closing");
            core.close(now, None);
        }
        Input::Connected(conn, stream) => {
            if !core.sockets.contains_key(&conn) {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            let _ = stream.set_nodelay(true);
            match attach(core, shared, conn, &stream) {
                Ok(out) => {
                    if let Some(socket) = core.sockets.get_mut(&conn) {
                        socket.stream = Some(stream);
                        socket.out = Some(out);
                    }
                    core.connected(now, conn);
                }
                Err(e) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    core.connect_failed(now, conn, e);
                }
            }
        }
        Input::ConnectFailed(conn, error) => core.connect_failed(now, conn, error),
        Input::Closed(conn) => core.closed(now, conn),
    }
}

/// Starts a connected socket's reader and writer threads.
fn attach(
    core: &Core,
    shared: &Arc<Shared>,
    conn: ConnId,
    stream: &TcpStream,
) -> io::Result<Arc<Outbox<SocketWrite>>> {
    let read = stream.try_clone()?;
    let out = Arc::new(Outbox::new(
        SocketWrite(stream.try_clone()?),
        Arc::clone(&core.backlog),
    ));
    let (feed, reading) = (Arc::clone(shared), shared.ext.readers.start());
    thread::Builder::new()
        .name(format!("kafka-read-{}", conn.0))
        .spawn(move || reader(read, conn, &feed, reading))?;
    let (write, writing) = (Arc::clone(&out), shared.ext.writers.start());
    let inputs = shared.ext.inputs.clone();
    let spawned = thread::Builder::new()
        .name(format!("kafka-write-{}", conn.0))
        .spawn(move || writer(&write, conn, &inputs, writing));
    if let Err(e) = spawned {
        // Ends the reader too.
        let _ = stream.shutdown(Shutdown::Both);
        return Err(e);
    }
    Ok(out)
}

/// Writes out what the writer threads still hold, shuts each socket's
/// write side and lets its reader meet the broker's end of stream (all
/// within the API timeout), then tells those waiting in `close`. Closing
/// a socket while answers sit unread in it would send a reset, and a
/// reset discards what the kernel has not yet sent: acks=0 records count
/// as sent once the client took their bytes, so a flush followed by
/// `close` must not lose them.
fn wind_down(shared: &Shared) {
    let (sockets, limit) = match shared.lock() {
        Ok(mut core) => (core.take_sockets(), core.client.config().api_timeout),
        Err(_) => return,
    };
    let until = Instant::now() + limit;
    for out in sockets.values().filter_map(|s| s.out.as_ref()) {
        out.finish();
    }
    shared.ext.writers.wait(until);
    for stream in sockets.values().filter_map(|s| s.stream.as_ref()) {
        let _ = stream.shutdown(Shutdown::Write);
    }
    shared.ext.readers.wait(until);
    drop(sockets);
    if let Ok(mut core) = shared.lock() {
        core.closed_down();
    }
}

/// Resolves `host` and tries each address in turn.
fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")))
}

/// Reads a socket and feeds what arrives to the core.
fn reader(mut read: TcpStream, conn: ConnId, shared: &Shared, reading: Task) {
    // Reads land here and only what arrived is copied on: zeroing a fresh
    // 64 KiB for every (usually small) response cost more.
    let mut chunk = vec![0u8; READ_CHUNK];
    // Bytes not yet cut into frames stay here between reads.
    let mut buf = BytesMut::new();
    loop {
        match read.read(&mut chunk) {
            Ok(0) | Err(_) => {
                // Counted out before the report: after shutdown nobody
                // takes it.
                drop(reading);
                let _ = shared.ext.inputs.send(Input::Closed(conn));
                return;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if !shared.read(conn, &mut buf) {
                    return;
                }
            }
        }
    }
}

fn writer(
    out: &Outbox<SocketWrite>,
    conn: ConnId,
    inputs: &mpsc::SyncSender<Input>,
    _writing: Task,
) {
    while let Some((frame, drained)) = out.next_blocking() {
        if drained {
            let _ = inputs.try_send(Input::Wake);
        }
        if (&out.writer().0).write_all(&frame).is_err() {
            // What is still queued is counted out with the close.
            out.close();
            let _ = inputs.send(Input::Closed(conn));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;

    /// Frames the socket cannot take at once wait for the writer thread
    /// and still arrive whole and in order, behind ones written directly;
    /// a finished outbox writes out its queue and the thread ends.
    #[test]
    fn frames_written_directly_or_queued_arrive_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let backlog = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Outbox::new(
            SocketWrite(client.try_clone().unwrap()),
            Arc::clone(&backlog),
        ));
        let (inputs, woken) = mpsc::sync_channel(4);
        let tasks = Arc::new(Tasks::default());
        let thread = {
            let (out, task) = (Arc::clone(&out), tasks.start());
            thread::spawn(move || writer(&out, ConnId(1), &inputs, task))
        };
        let frames: Vec<Bytes> = (0..64u8)
            .map(|i| Bytes::from(vec![i; 256 * 1024]))
            .collect();
        for f in &frames {
            out.send(f.clone());
        }
        assert!(out.busy(), "the socket filled up and frames queued");
        out.send(Bytes::from_static(b"tail"));
        out.finish();
        let mut got = vec![0u8; frames.len() * 256 * 1024 + 4];
        server.read_exact(&mut got).unwrap();
        for (i, chunk) in got.chunks(256 * 1024).take(64).enumerate() {
            assert!(chunk.iter().all(|b| usize::from(*b) == i), "frame {i}");
        }
        assert!(got.ends_with(b"tail"));
        tasks.wait(Instant::now() + Duration::from_secs(10));
        assert_eq!(tasks.running(), 0, "the writer ended");
        thread.join().unwrap();
        assert_eq!(backlog.load(Ordering::Relaxed), 0);
        assert!(
            matches!(woken.try_recv(), Ok(Input::Wake)),
            "the writer said when it went back under the limit"
        );
    }
}
