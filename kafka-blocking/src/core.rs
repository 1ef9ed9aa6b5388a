//! The driver's state: the sans-IO client and the calls waiting on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::time::Duration;

use kafka_state::calls::{Calls, WallClock};
use kafka_state::{ConnId, Event};
use tracing::warn;

use crate::driver::{Input, Socket};

use crate::Error;

/// The sans-IO client with everything that acts on its outputs.
pub(crate) struct Core {
    pub(crate) client: kafka_state::Client,
    pub(crate) calls: Calls<crate::producer::Delivered>,
    pub(crate) closing: Vec<mpsc::SyncSender<()>>,
    /// Where SASL OAUTHBEARER tokens come from.
    pub(crate) oauth: Option<Arc<dyn TokenProvider>>,
    /// The driver's own input, for answers from the token thread.
    pub(crate) inputs: Option<mpsc::SyncSender<Input>>,
    /// A token is being fetched: asks meanwhile are not repeated.
    oauth_fetching: bool,
    shut_down: bool,
    /// Signalled, under the core's lock, when the producer's buffer has
    /// room again or the client stops: senders facing a full buffer wait
    /// on it with the core's lock.
    pub(crate) room: Arc<Condvar>,
    /// Create times of records sent without one.
    pub(crate) wall: WallClock,
    /// The deadline the driver waits until: a socket reader feeding the
    /// core wakes the driver only for something sooner (or for output).
    pub(crate) armed: Option<Instant>,
    /// The open sockets. Whoever holds the lock writes the core's
    /// transmits to them (see [`crate::driver::flush`]); only the driver
    /// opens and closes them.
    pub(crate) sockets: HashMap<ConnId, Socket>,
    /// Bytes queued in every socket's outbox, waiting for a writer thread.
    pub(crate) backlog: Arc<AtomicUsize>,
}

/// The core, shared by the driver thread and every handle. Handles run
/// hot commands (a producer's send) under the lock themselves instead of
/// queueing a job, write the requests they made ready, and wake the
/// driver only for what else the command left (a connection to open, a
/// sooner timeout): a stream of sends seldom wakes it at all.
pub(crate) struct Shared {
    core: Mutex<Core>,
    inputs: mpsc::SyncSender<Input>,
    /// Cleared when the driver thread ends, however it ends: nobody would
    /// deliver what a handle queued after that.
    pub(crate) running: AtomicBool,
    /// Socket reader threads still running (they end at end of stream).
    pub(crate) readers: AtomicUsize,
    /// [`Core::room`].
    pub(crate) room: Arc<Condvar>,
}

impl Shared {
    pub(crate) fn new(core: Core, inputs: mpsc::SyncSender<Input>) -> Self {
        let room = Arc::clone(&core.room);
        Self {
            core: Mutex::new(core),
            inputs,
            running: AtomicBool::new(true),
            readers: AtomicUsize::new(0),
            room,
        }
    }

    /// Marks the driver gone and wakes senders waiting for room. Under
    /// the lock, so that a sender between its check of `running` and its
    /// wait cannot miss it.
    pub(crate) fn stopped(&self) {
        let _core = self.core.lock();
        self.running.store(false, Ordering::Release);
        self.room.notify_all();
    }

    /// Wakes the driver. A full queue means it has inputs to handle,
    /// after which it drains the core anyway.
    pub(crate) fn wake(&self) {
        let _ = self.inputs.try_send(Input::Wake);
    }

    /// The core; a lock poisoned by a panic counts as a closed client.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Core>, Error> {
        self.core.lock().map_err(|_| Error::Closed)
    }
}

/// A token and how long it stays valid, or why there is none.
pub type TokenResult = Result<(String, Duration), String>;

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

/// A reply that wakes a blocked caller.
pub(crate) fn reply<T: Send + 'static>(
    tx: mpsc::SyncSender<Result<T, Error>>,
) -> kafka_state::calls::Reply<T> {
    Box::new(move |r| {
        let _ = tx.send(r);
    })
}

impl Core {
    pub(crate) fn new(client: kafka_state::Client) -> Self {
        Self {
            client,
            calls: Calls::default(),
            closing: Vec::new(),
            oauth: None,
            inputs: None,
            oauth_fetching: false,
            shut_down: false,
            room: Arc::new(Condvar::new()),
            wall: WallClock::default(),
            armed: None,
            sockets: HashMap::new(),
            backlog: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Routes one core event to whoever waits for it.
    pub(crate) fn handle_event(&mut self, now: Instant, event: Event) {
        if matches!(event, Event::OAuthTokenRequired) {
            self.fetch_token();
        }
        let fatal = matches!(event, Event::Fatal(_));
        if matches!(event, Event::BufferAvailable) {
            self.room.notify_all();
        }
        self.calls.handle_event(&mut self.client, now, event);
        if fatal {
            self.finish();
        }
    }

    /// Runs the token provider on a thread; its answer comes back as a job.
    fn fetch_token(&mut self) {
        let (Some(provider), Some(inputs)) = (&self.oauth, &self.inputs) else {
            warn!(target: "kafka_blocking::core", "OAUTHBEARER token needed but no token provider was given");
            return;
        };
        if self.oauth_fetching {
            return;
        }
        self.oauth_fetching = true;
        let (provider, inputs) = (provider.clone(), inputs.clone());
        let spawned = std::thread::Builder::new()
            .name("kafka-oauth".into())
            .spawn(move || {
                let result = provider.token();
                let _ = inputs.send(Input::Job(Box::new(move |core: &mut Core, now: Instant| {
                    core.oauth_fetching = false;
                    match result {
                        Ok((token, lifetime)) => {
                            if let Err(e) = core.client.set_oauth_token(now, token, lifetime) {
                                warn!(target: "kafka_blocking::core", error = %e, "token refused");
                            }
                        }
                        // The core asks again after the setup timeout.
                        Err(e) => warn!(target: "kafka_blocking::core", error = %e, "token provider failed"),
                    }
                })));
            });
        if spawned.is_err() {
            self.oauth_fetching = false;
        }
    }

    /// Closes the client; pending calls fail with [`Error::Closed`].
    pub(crate) fn close(&mut self, now: Instant) {
        self.client.close(now);
        while let Some(event) = self.client.poll_event() {
            self.handle_event(now, event);
        }
        self.calls.fail_all(&Error::Closed);
        self.finish();
    }

    /// Marks the client shut down. Those waiting in `close` are told by
    /// the driver once it has written out what the sockets still held.
    fn finish(&mut self) {
        self.shut_down = true;
        self.room.notify_all();
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down
    }
}

/// Milliseconds since the Unix epoch: record create times come from the
/// adapter, which may read the clock.
pub(crate) fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
