//! The shared core: the sans-IO client under one lock, with the calls
//! waiting on it and the sockets it writes to, and the one drain every
//! adapter runs.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_state::{Client, ConnId, ConnRequest, Event};
use tracing::{debug, trace, warn};

use crate::calls::{Calls, Deliver};
use crate::clock::WallClock;
use crate::outbox::BACKLOG_LIMIT;
use crate::records::RecordBuffer;
use crate::Error;

const LOG: &str = "kafka_driver::core";

/// Read buffer growth step of a socket reader.
pub const READ_CHUNK: usize = 64 * 1024;

/// Work a handle sends the driver: a closure run against the core.
pub type Job<R> = Box<dyn FnOnce(&mut Core<R>, Instant) + Send>;

/// A token and how long it stays valid, or why there is none.
pub type TokenResult = Result<(String, Duration), String>;

/// What a runtime supplies to the shared core: how to open a socket and
/// write to it, how to wake producers waiting for room, and where SASL
/// OAUTHBEARER tokens come from.
pub trait Runtime: Send + Sized + 'static {
    /// The driver's handle of one socket. Dropping it closes the socket.
    type Socket: Send;
    /// Where a record's delivery report goes.
    type Delivered: Deliver;

    /// Starts connecting `conn` to `host:port`; the adapter later reports
    /// the outcome with [`Core::connected`] or [`Core::connect_failed`].
    fn open(
        &mut self,
        conn: ConnId,
        host: String,
        port: u16,
        setup_timeout: Duration,
    ) -> io::Result<Self::Socket>;

    /// Hands a frame to a socket (written at once or queued); a socket not
    /// yet connected drops it (the core sends nothing to one).
    fn write(socket: &Self::Socket, frame: Bytes);

    /// The producer's buffer has room again, or the client stopped:
    /// wakes senders waiting for room.
    fn room(&self);

    /// Starts fetching an OAUTHBEARER token elsewhere (a task, a thread);
    /// the answer comes back through [`Core::token_fetched`]. Returns
    /// false when there is no token provider.
    fn fetch_token(&mut self) -> bool {
        false
    }
}

/// The sans-IO client with everything that acts on its outputs.
pub struct Core<R: Runtime> {
    /// The sans-IO client.
    pub client: Client,
    /// Application calls waiting for its events.
    pub calls: Calls<R::Delivered>,
    /// The runtime's part.
    pub rt: R,
    /// Create times of records sent without one.
    pub wall: WallClock,
    /// The open sockets. Whoever holds the lock writes the core's
    /// transmits to them ([`Core::flush`]); only the driver opens and
    /// closes them.
    pub sockets: HashMap<ConnId, R::Socket>,
    /// Bytes queued in every socket's outbox, waiting for a writer.
    pub backlog: Arc<AtomicUsize>,
    /// The deadline the driver sleeps until: a reader feeding the core
    /// wakes the driver only for something sooner (or for output).
    armed: Option<Instant>,
    /// Told once the driver wrote out what the sockets held at close.
    closing: Vec<Box<dyn FnOnce() + Send>>,
    oauth_fetching: bool,
    shut_down: bool,
    consumer_taken: bool,
}

impl<R: Runtime> std::fmt::Debug for Core<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("calls", &self.calls)
            .field("sockets", &self.sockets.len())
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Core<R> {
    /// The core of a new client.
    pub fn new(client: Client, rt: R) -> Self {
        Self {
            client,
            calls: Calls::default(),
            rt,
            wall: WallClock::default(),
            sockets: HashMap::new(),
            backlog: Arc::new(AtomicUsize::new(0)),
            armed: None,
            closing: Vec::new(),
            oauth_fetching: false,
            shut_down: false,
            consumer_taken: false,
        }
    }

    /// Routes one core event to whoever waits for it.
    pub fn handle_event(&mut self, event: Event) {
        self.route(event);
        self.calls.settle();
    }

    /// [`handle_event`](Self::handle_event) without putting held batch
    /// reports: a pass over many events puts them once, at its end.
    fn route(&mut self, event: Event) {
        match &event {
            Event::OAuthTokenRequired if !self.oauth_fetching => {
                self.oauth_fetching = self.rt.fetch_token();
                if !self.oauth_fetching {
                    warn!(target: LOG, "OAUTHBEARER token needed but no token provider was given");
                }
            }
            Event::BufferAvailable => self.rt.room(),
            _ => {}
        }
        let fatal = matches!(event, Event::Fatal(_));
        self.calls.handle_event(&mut self.client, event);
        if fatal {
            self.finish();
        }
    }

    /// Hands every event the core has to whoever waits for it.
    fn handle_events(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.client.poll_event() {
            any = true;
            self.route(event);
        }
        self.calls.settle();
        any
    }

    /// The answer of the token provider [`Runtime::fetch_token`] ran.
    pub fn token_fetched(&mut self, now: Instant, result: TokenResult) {
        self.oauth_fetching = false;
        match result {
            Ok((token, lifetime)) => {
                if let Err(e) = self.client.set_oauth_token(now, token, lifetime) {
                    warn!(target: LOG, error = %e, "token refused");
                }
            }
            // The core asks again after the setup timeout.
            Err(e) => warn!(target: LOG, error = %e, "token provider failed"),
        }
    }

    /// Writes the core's transmits to their sockets, up to the backlog
    /// limit (past it, requests stay in the core until a writer drains).
    /// Run by whoever holds the lock and may have made a request ready:
    /// the driver, a handle after a command, a reader after a response.
    /// Says whether anything was written.
    pub fn flush(&mut self) -> bool {
        let mut any = false;
        while self.backlog.load(Ordering::Relaxed) < BACKLOG_LIMIT {
            let Some(t) = self.client.poll_transmit() else {
                break;
            };
            any = true;
            // Taking an acks=0 request completes its records: their reports
            // go out now, not piled up behind megabytes of further requests.
            self.handle_events();
            if let Some(socket) = self.sockets.get(&t.conn) {
                R::write(socket, t.bytes);
            }
        }
        any
    }

    /// After a handle's command: writes the requests it made ready, and
    /// says whether the driver must wake for what else it left (a
    /// connection to open, a sooner timeout). Most sends only append to a
    /// batch and leave the core's flag clear, which costs nothing here.
    pub fn after_command(&mut self) -> bool {
        self.client.take_wakeup() && {
            self.flush();
            self.client.take_wakeup_for(self.armed) || self.shut_down
        }
    }

    /// Feeds bytes a socket read to the core, hands out the events that
    /// follow (delivery reports, fetched records), writes the requests a
    /// response let go, and says whether the driver must wake.
    pub fn on_read(&mut self, now: Instant, conn: ConnId, buf: &mut BytesMut) -> bool {
        self.client.handle_recv(now, conn, buf);
        self.handle_events();
        // A response frees an in-flight slot: the next request goes now.
        self.flush();
        self.calls.serve_pull(&mut self.client, now);
        self.client.take_wakeup_for(self.armed) || self.shut_down
    }

    /// Executes everything the core asks for, in the documented order
    /// (transmits, connection requests, events), and answers a waiting
    /// pull, until nothing moves.
    pub fn drain(&mut self) {
        loop {
            // One clock read per pass, not per event: a batch's
            // acknowledgement brings an event for each of its records.
            let now = Instant::now();
            let mut progressed = self.flush();
            while let Some(req) = self.client.poll_conn() {
                progressed = true;
                match req {
                    ConnRequest::Open { conn, host, port } => {
                        trace!(target: LOG, %conn, %host, port, "connecting");
                        let timeout = self.client.config().connection_setup_timeout;
                        match self.rt.open(conn, host, port, timeout) {
                            Ok(socket) => {
                                self.sockets.insert(conn, socket);
                            }
                            Err(e) => self.client.handle_connect_failed(now, conn, e),
                        }
                    }
                    // At shutdown a socket stays until the driver has
                    // written out what it holds.
                    ConnRequest::Close { conn } if !self.shut_down => {
                        self.sockets.remove(&conn);
                    }
                    ConnRequest::Close { .. } => {}
                    other => debug!(target: LOG, ?other, "unknown connection request"),
                }
            }
            progressed |= self.handle_events();
            progressed |= self.calls.serve_pull(&mut self.client, now);
            if !progressed {
                break;
            }
        }
    }

    /// After a drain: the deadline the driver sleeps until.
    pub fn arm(&mut self) -> Option<Instant> {
        // Whatever handles flagged is handled by the drain just run.
        let _ = self.client.take_wakeup();
        self.armed = self.client.poll_timeout();
        self.armed
    }

    /// A socket the core asked for connected (the adapter attached its
    /// reader and writer first). False if the core gave up on it meanwhile.
    pub fn connected(&mut self, now: Instant, conn: ConnId) -> bool {
        if !self.sockets.contains_key(&conn) {
            return false;
        }
        self.client.handle_connected(now, conn);
        true
    }

    /// A connection attempt failed.
    pub fn connect_failed(&mut self, now: Instant, conn: ConnId, error: impl ToString) {
        if self.sockets.remove(&conn).is_some() {
            self.client
                .handle_connect_failed(now, conn, error.to_string());
        }
    }

    /// A socket met its end (end of stream, a read or write error).
    pub fn closed(&mut self, now: Instant, conn: ConnId) {
        if self.sockets.remove(&conn).is_some() {
            self.client.handle_closed(now, conn);
        }
    }

    /// Closes the client; pending calls fail with [`Error::Closed`].
    /// `done` runs once the driver has written out what the sockets held.
    pub fn close(&mut self, now: Instant, done: Option<Box<dyn FnOnce() + Send>>) {
        self.closing.extend(done);
        self.client.close(now);
        self.handle_events();
        self.calls.fail_all(&Error::Closed);
        self.finish();
    }

    /// Marks the client shut down and wakes senders waiting for room.
    fn finish(&mut self) {
        self.shut_down = true;
        self.rt.room();
    }

    /// Whether the client is shut down (closed, or failed for good).
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// For the driver's last act: the sockets to wind down.
    pub fn take_sockets(&mut self) -> HashMap<ConnId, R::Socket> {
        std::mem::take(&mut self.sockets)
    }

    /// Tells those waiting in `close` that the driver is done.
    pub fn closed_down(&mut self) {
        for done in self.closing.drain(..) {
            done();
        }
    }
}

/// Wakes a sleeping driver.
pub trait Wake: Send + Sync + 'static {
    /// Wakes the driver; a wake-up given while it is busy is kept.
    fn wake(&self);
}

/// The core, shared by the driver and every handle. Handles run hot
/// commands (a producer's send) under the lock themselves instead of
/// queueing a job, write the requests they made ready, and wake the
/// driver only for what else the command left: a stream of sends seldom
/// wakes it at all. The lock is never held across an `.await` or a
/// blocking wait other than the room condition.
pub struct Shared<R: Runtime, W> {
    core: Mutex<Core<R>>,
    /// The runtime's part outside the lock (at least the driver's waker).
    pub ext: W,
}

impl<R: Runtime, W> std::fmt::Debug for Shared<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl<R: Runtime, W: Wake> Shared<R, W> {
    /// Shares `core`.
    pub fn new(core: Core<R>, ext: W) -> Self {
        Self {
            core: Mutex::new(core),
            ext,
        }
    }

    /// The core; a lock poisoned by a panic counts as a closed client.
    pub fn lock(&self) -> Result<MutexGuard<'_, Core<R>>, Error> {
        self.core.lock().map_err(|_| Error::Closed)
    }

    /// A statistics snapshot of the client
    /// ([`kafka_state::Client::stats`]).
    pub fn stats(&self) -> Result<kafka_state::ClientStats, Error> {
        Ok(self.lock()?.client.stats())
    }

    /// Hands every periodic statistics snapshot to `sink` from now on;
    /// [`Error::Closed`] once the client is shut down. The sink is dropped
    /// when the client shuts down.
    pub fn on_stats(&self, sink: crate::StatsSink) -> Result<(), Error> {
        let mut core = self.lock()?;
        if core.is_shut_down() {
            return Err(Error::Closed);
        }
        core.calls.on_stats(sink);
        Ok(())
    }

    /// The lock itself, for waiting on a condition with it.
    pub fn mutex(&self) -> &Mutex<Core<R>> {
        &self.core
    }

    /// Runs a command on the core from a handle and writes the requests
    /// it makes ready, so a request costs no hop through the driver; the
    /// driver is woken only for what else the command left.
    pub fn command<T>(&self, f: impl FnOnce(&mut Core<R>, Instant) -> T) -> Result<T, Error> {
        let (r, wake) = {
            let mut core = self.lock()?;
            let now = Instant::now();
            let r = f(&mut core, now);
            (r, core.after_command())
        };
        if wake {
            self.ext.wake();
        }
        Ok(r)
    }

    /// What a socket's reader does with the bytes it read: feeds them to
    /// the core under the lock (which is also the back-pressure: nothing
    /// more is read from that socket meanwhile) and wakes the driver if
    /// needed. False once the client is gone.
    pub fn read(&self, conn: ConnId, buf: &mut BytesMut) -> bool {
        let wake = {
            let Ok(mut core) = self.lock() else {
                return false;
            };
            core.on_read(Instant::now(), conn, buf)
        };
        if wake {
            self.ext.wake();
        }
        true
    }
}

/// The consumer handle's side of the core: every adapter's consumer is
/// its [`RecordBuffer`] plus these calls, run under the lock.
impl<R: Runtime> Core<R> {
    /// Claims the client's one consumer ([`Error::ConsumerInUse`] while
    /// another is alive) and gives it its buffer.
    pub(crate) fn open_consumer(&mut self) -> Result<RecordBuffer, Error> {
        if std::mem::replace(&mut self.consumer_taken, true) {
            return Err(Error::ConsumerInUse);
        }
        Ok(RecordBuffer::new(&self.client, &mut self.calls))
    }

    /// The consumer was dropped: what it yielded is stored, and another
    /// may be made.
    pub(crate) fn close_consumer(&mut self, buffer: &mut RecordBuffer) {
        buffer.sync(&mut self.client, &mut self.calls);
        self.consumer_taken = false;
        self.calls.cancel_pull();
        self.calls.gone.track(false);
    }

    /// Stores what `buffer` yielded and drops what the core took away.
    pub(crate) fn sync_consumer(&mut self, buffer: &mut RecordBuffer) {
        buffer.sync(&mut self.client, &mut self.calls);
    }

    /// Runs a consumer command that moves positions (`changed`
    /// partitions, all when `None`): records `buffer` holds of them are
    /// dropped, and a pull answered before the change carries none of its
    /// effects (no pull spans it).
    pub(crate) fn reposition(
        &mut self,
        buffer: &mut RecordBuffer,
        now: Instant,
        changed: Option<&[kafka_state::TopicPartition]>,
        f: impl FnOnce(&mut Client, Instant) -> Result<(), kafka_state::Misuse>,
    ) -> Result<(), Error> {
        buffer.forget(changed);
        buffer.sync(&mut self.client, &mut self.calls);
        self.calls.cancel_pull();
        Ok(f(&mut self.client, now)?)
    }

    /// Asks for records for `buffer`: `reply` gets them once the core has
    /// some (or a consumer problem).
    pub(crate) fn pull(
        &mut self,
        buffer: &mut RecordBuffer,
        now: Instant,
        reply: crate::Reply<Vec<kafka_state::FetchedRecords>>,
    ) {
        buffer.sync(&mut self.client, &mut self.calls);
        // The application asks for records: the group member's max poll
        // interval starts again. Refused only once the client is closed,
        // which the pull reports.
        let _ = self.client.consumer().record_poll(now);
        buffer.pull_started();
        self.calls
            .pull_records(&mut self.client, now, PULL_BATCHES, reply);
    }
}

/// Partitions' worth of fetched data taken per pull. Records are taken
/// from the core (which moves positions) only when the application asks.
const PULL_BATCHES: usize = 16;
