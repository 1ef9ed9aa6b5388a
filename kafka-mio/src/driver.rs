//! The driver: the sans-IO core plus the sockets it asked for, registered
//! on the application's `Poll`. It turns readiness events and the clock
//! into core inputs and carries out the core's outputs; it holds no
//! protocol logic.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use std::vec;

use bytes::{Buf, Bytes, BytesMut};
use kafka_state::{ConnId, ConnRequest, Event};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tracing::{debug, trace};

/// See [`kafka_state::WRITE_BACKLOG_LIMIT`].
const BACKLOG_LIMIT: usize = kafka_state::WRITE_BACKLOG_LIMIT;

use crate::tokens::{Slots, Tokens};

const LOG: &str = "kafka_mio::driver";
/// Largest single read; the per-event budget may cut it shorter.
const READ_CHUNK: usize = 64 * 1024;
/// Buffers handed to one vectored write.
const WRITE_SLICES: usize = 32;
/// Default bytes read from one socket per readiness event.
pub(crate) const DEFAULT_READ_BUDGET: usize = 256 * 1024;

/// One socket the core asked for.
struct Socket {
    token: Token,
    /// `host:port` as the core gave it, for error messages.
    addr: String,
    stream: TcpStream,
    /// Addresses not tried yet, while the connect is in progress.
    connecting: Option<vec::IntoIter<SocketAddr>>,
    /// What the socket is registered for.
    interest: Interest,
    /// Bytes waiting for the socket to accept them, oldest first.
    out: VecDeque<Bytes>,
    /// Received bytes not yet cut into frames by the core.
    buf: BytesMut,
    /// In `Driver::unread`: its read budget ran out before `WouldBlock`.
    unread: bool,
}

/// How a non-blocking connect stands.
enum ConnectStatus {
    Pending,
    Done,
    Failed(io::Error),
}

/// The core and its sockets.
pub(crate) struct Driver {
    pub(crate) core: kafka_state::Client,
    registry: Registry,
    slots: Slots,
    sockets: HashMap<ConnId, Socket>,
    /// Sockets to read again without waiting for an event: mio reports
    /// readiness once per edge, and their budget ran out first.
    unread: VecDeque<ConnId>,
    events: VecDeque<Event>,
    read_budget: usize,
    /// Bytes in every socket's `out`.
    backlog: usize,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for (_, mut s) in self.sockets.drain() {
            let _ = self.registry.deregister(&mut s.stream);
        }
    }
}

impl Driver {
    pub(crate) fn new(core: kafka_state::Client, registry: Registry, tokens: Tokens) -> Self {
        let mut driver = Self {
            core,
            registry,
            slots: Slots::new(tokens),
            sockets: HashMap::new(),
            unread: VecDeque::new(),
            events: VecDeque::new(),
            read_budget: DEFAULT_READ_BUDGET,
            backlog: 0,
        };
        // The core asks for its first connection at once.
        driver.drain(Instant::now());
        driver
    }

    pub(crate) fn set_read_budget(&mut self, bytes: usize) {
        self.read_budget = bytes.max(1);
    }

    pub(crate) fn tokens(&self) -> Tokens {
        self.slots.tokens()
    }

    pub(crate) fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Handles a readiness event if its token is one of the client's.
    pub(crate) fn handle_event(&mut self, event: &mio::event::Event) -> bool {
        let token = event.token();
        if !self.slots.tokens().contains(token) {
            return false;
        }
        // A token nobody holds: an event for a socket closed earlier in
        // the same batch.
        if let Some(conn) = self.slots.holder(token) {
            let now = Instant::now();
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            self.service(now, conn, readable);
            self.drain(now);
        }
        true
    }

    /// Zero while a socket has unread bytes, else until the core's timer.
    pub(crate) fn next_timeout(&self) -> Option<Duration> {
        if !self.unread.is_empty() {
            return Some(Duration::ZERO);
        }
        self.core
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Reads the sockets left over from earlier events, then fires the
    /// core's timer if it is due.
    pub(crate) fn handle_timeout(&mut self) {
        let now = Instant::now();
        // Only those queued before this call: one budget each per round.
        for _ in 0..self.unread.len() {
            let Some(conn) = self.unread.pop_front() else {
                break;
            };
            if let Some(s) = self.sockets.get_mut(&conn) {
                s.unread = false;
                self.read(now, conn);
            }
        }
        if self.core.poll_timeout().is_some_and(|at| at <= now) {
            self.core.handle_timeout(now);
        }
        self.drain(now);
    }

    /// Carries out everything the core asks for after an input or a
    /// command: transmit, then conn; events go to the application's queue.
    pub(crate) fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            let mut written: Vec<ConnId> = Vec::new();
            // Past the limit, requests stay in the core until a socket
            // drains (its writable event ends in a drain).
            while self.backlog < BACKLOG_LIMIT {
                let Some(t) = self.core.poll_transmit() else {
                    break;
                };
                progressed = true;
                match self.sockets.get_mut(&t.conn) {
                    Some(_) if t.bytes.is_empty() => {}
                    Some(s) => {
                        self.backlog += t.bytes.len();
                        s.out.push_back(t.bytes);
                        if !written.contains(&t.conn) {
                            written.push(t.conn);
                        }
                    }
                    None => {
                        trace!(target: LOG, conn = %t.conn, "bytes for a closed socket dropped")
                    }
                }
            }
            for conn in written {
                self.flush(now, conn);
            }
            while let Some(req) = self.core.poll_conn() {
                progressed = true;
                match req {
                    ConnRequest::Open { conn, host, port } => self.open(now, conn, &host, port),
                    ConnRequest::Close { conn } => {
                        trace!(target: LOG, %conn, "closing as asked");
                        self.remove(conn);
                    }
                    other => debug!(target: LOG, ?other, "unknown connection request"),
                }
            }
            while let Some(event) = self.core.poll_event() {
                progressed = true;
                self.events.push_back(event);
            }
            if !progressed {
                break;
            }
        }
    }

    /// Resolves (blocking, see the crate docs) and starts a connect.
    fn open(&mut self, now: Instant, conn: ConnId, host: &str, port: u16) {
        trace!(target: LOG, %conn, host, port, "connecting");
        let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                self.core
                    .handle_connect_failed(now, conn, format!("resolving {host}: {e}"));
                return;
            }
        };
        let Some(token) = self.slots.take(conn) else {
            let n = self.slots.tokens().len();
            self.core
                .handle_connect_failed(now, conn, format!("all {n} tokens are in use"));
            return;
        };
        let mut rest = addrs.into_iter();
        match connect_next(&self.registry, token, &mut rest) {
            Ok(stream) => {
                self.sockets.insert(
                    conn,
                    Socket {
                        token,
                        addr: format!("{host}:{port}"),
                        stream,
                        connecting: Some(rest),
                        interest: CONNECTING,
                        out: VecDeque::new(),
                        buf: BytesMut::new(),
                        unread: false,
                    },
                );
            }
            Err(e) => {
                self.slots.release(token);
                let e = e.map_or_else(|| "resolved to no address".to_string(), |e| e.to_string());
                self.core
                    .handle_connect_failed(now, conn, format!("{host}:{port}: {e}"));
            }
        }
    }

    /// Acts on readiness of one socket.
    fn service(&mut self, now: Instant, conn: ConnId, mut readable: bool) {
        let Some(s) = self.sockets.get_mut(&conn) else {
            return;
        };
        if s.connecting.is_some() {
            match connect_status(&s.stream) {
                ConnectStatus::Pending => return,
                ConnectStatus::Failed(e) => return self.connect_failed(now, conn, e),
                ConnectStatus::Done => {
                    trace!(target: LOG, %conn, "connected");
                    s.connecting = None;
                    let _ = s.stream.set_nodelay(true);
                    self.core.handle_connected(now, conn);
                    // Flushes the core's first request, and sets the
                    // interest for an open socket.
                    self.drain(now);
                    self.flush(now, conn);
                    readable = true;
                }
            }
        }
        if self.sockets.get(&conn).is_some_and(|s| !s.out.is_empty()) {
            self.flush(now, conn);
        }
        if readable {
            self.read(now, conn);
        }
    }

    /// A connect attempt failed: try the next address, else report it.
    fn connect_failed(&mut self, now: Instant, conn: ConnId, error: io::Error) {
        let Some(s) = self.sockets.get_mut(&conn) else {
            return;
        };
        debug!(target: LOG, %conn, %error, "connect failed");
        let _ = self.registry.deregister(&mut s.stream);
        let mut rest = s.connecting.take().unwrap_or_default();
        match connect_next(&self.registry, s.token, &mut rest) {
            Ok(stream) => {
                s.stream = stream;
                s.interest = CONNECTING;
                s.connecting = Some(rest);
            }
            Err(last) => {
                let error = format!("{}: {}", s.addr, last.unwrap_or(error));
                self.remove(conn);
                self.core.handle_connect_failed(now, conn, error);
            }
        }
    }

    /// Reads until `WouldBlock` or the budget is spent, handing each
    /// chunk to the core.
    fn read(&mut self, now: Instant, conn: ConnId) {
        let mut budget = self.read_budget;
        loop {
            // The core may have closed the socket while handling the last chunk.
            let Some(s) = self.sockets.get_mut(&conn) else {
                return;
            };
            if s.connecting.is_some() {
                return;
            }
            if budget == 0 {
                if !s.unread {
                    s.unread = true;
                    self.unread.push_back(conn);
                }
                return;
            }
            let start = s.buf.len();
            s.buf.resize(start + budget.min(READ_CHUNK), 0);
            let result = s.stream.read(&mut s.buf[start..]);
            let n = *result.as_ref().unwrap_or(&0);
            s.buf.truncate(start + n);
            match result {
                Ok(0) => {
                    debug!(target: LOG, %conn, "closed by the broker");
                    return self.lost(now, conn);
                }
                Ok(n) => {
                    budget -= n;
                    self.core.handle_recv(now, conn, &mut s.buf);
                    self.drain(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    debug!(target: LOG, %conn, %error, "read failed");
                    return self.lost(now, conn);
                }
            }
        }
    }

    /// Writes queued bytes until done or `WouldBlock`, then registers for
    /// writability only if bytes are left.
    fn flush(&mut self, now: Instant, conn: ConnId) {
        let Some(s) = self.sockets.get_mut(&conn) else {
            return;
        };
        if s.connecting.is_some() {
            return;
        }
        let before: usize = s.out.iter().map(Bytes::len).sum();
        let written = write_queue(&mut s.stream, &mut s.out);
        let after: usize = s.out.iter().map(Bytes::len).sum();
        self.backlog -= before - after;
        let result = written.and_then(|()| {
            let want = if s.out.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            if want != s.interest {
                self.registry.reregister(&mut s.stream, s.token, want)?;
                s.interest = want;
            }
            Ok(())
        });
        if let Err(error) = result {
            debug!(target: LOG, %conn, %error, "write failed");
            self.lost(now, conn);
        }
    }

    /// The socket died under us: forget it and tell the core.
    fn lost(&mut self, now: Instant, conn: ConnId) {
        if self.remove(conn) {
            self.core.handle_closed(now, conn);
        }
    }

    /// Deregisters and drops a socket; frees its token.
    fn remove(&mut self, conn: ConnId) -> bool {
        let Some(mut s) = self.sockets.remove(&conn) else {
            return false;
        };
        self.backlog -= s.out.iter().map(Bytes::len).sum::<usize>();
        let _ = self.registry.deregister(&mut s.stream);
        self.slots.release(s.token);
        true
    }
}

/// Registered while a connect is in progress: writable tells it finished.
const CONNECTING: Interest = Interest::READABLE.add(Interest::WRITABLE);

/// Starts a non-blocking connect to the next address that accepts one
/// and registers it under `token`. The error is the last address's, or
/// `None` when no address was left to try.
fn connect_next(
    registry: &Registry,
    token: Token,
    addrs: &mut vec::IntoIter<SocketAddr>,
) -> Result<TcpStream, Option<io::Error>> {
    let mut last = None;
    for addr in addrs.by_ref() {
        let started = TcpStream::connect(addr)
            .and_then(|mut s| registry.register(&mut s, token, CONNECTING).map(|()| s));
        match started {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last)
}

/// mio's recipe: a pending socket error means failure; a peer address
/// means connected; "not connected" means not yet.
fn connect_status(stream: &TcpStream) -> ConnectStatus {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return ConnectStatus::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => ConnectStatus::Done,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotConnected | io::ErrorKind::WouldBlock
            ) =>
        {
            ConnectStatus::Pending
        }
        Err(e) => ConnectStatus::Failed(e),
    }
}

/// Writes from the front of `out` until it is empty or the socket would
/// block. Partly written buffers stay at the front, advanced.
fn write_queue(stream: &mut TcpStream, out: &mut VecDeque<Bytes>) -> io::Result<()> {
    while !out.is_empty() {
        let written = {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let mut n = 0;
            for (slot, bytes) in slices.iter_mut().zip(out.iter()) {
                *slot = IoSlice::new(bytes);
                n += 1;
            }
            stream.write_vectored(&slices[..n])
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut n) => {
                while n > 0 {
                    let Some(front) = out.front_mut() else { break };
                    if n < front.len() {
                        front.advance(n);
                        break;
                    }
                    n -= front.len();
                    out.pop_front();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let std_stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std_stream.set_nonblocking(true).unwrap();
        let mut stream = TcpStream::from_std(std_stream);
        let (mut peer, _) = listener.accept().unwrap();

        // More than loopback buffers hold, in uneven pieces.
        let data: Vec<u8> = (0..32usize << 20).map(|i| (i % 251) as u8).collect();
        let mut out: VecDeque<Bytes> = data.chunks(100_003).map(Bytes::copy_from_slice).collect();
        write_queue(&mut stream, &mut out).unwrap();
        assert!(
            !out.is_empty(),
            "the peer reads nothing yet, so the socket must fill"
        );

        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).map(|_| got)
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while !out.is_empty() {
            assert!(Instant::now() < deadline, "writes made no progress");
            write_queue(&mut stream, &mut out).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        drop(stream);
        assert!(
            reader.join().unwrap().unwrap() == data,
            "bytes arrive whole and in order"
        );
    }
}
