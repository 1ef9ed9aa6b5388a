//! The driver's state: the sans-IO client and the calls waiting on it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_state::calls::{Calls, WallClock};
use kafka_state::{ConnId, Event};
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::warn;

use crate::driver::{Job, Socket};

use crate::Error;

/// The sans-IO client with everything that acts on its outputs.
pub(crate) struct Core {
    pub(crate) client: kafka_state::Client,
    pub(crate) calls: Calls<crate::producer::Delivered>,
    pub(crate) closing: Vec<oneshot::Sender<()>>,
    /// Where SASL OAUTHBEARER tokens come from, and how to hand one back
    /// to the driver (weak: the driver must stop when the handles go).
    pub(crate) oauth: Option<(Arc<dyn TokenProvider>, mpsc::WeakUnboundedSender<Job>)>,
    /// A token is being fetched: asks meanwhile are not repeated.
    oauth_fetching: bool,
    shut_down: bool,
    /// Notified when the producer's buffer has room again, or the client
    /// closed (senders then learn why).
    pub(crate) room: Arc<Notify>,
    /// Create times of records sent without one.
    pub(crate) wall: WallClock,
    /// The deadline the driver sleeps until: a socket reader feeding the
    /// core wakes the driver only for something sooner (or for output).
    pub(crate) armed: Option<Instant>,
    /// The open sockets. Whoever holds the lock writes the core's
    /// transmits to them (see [`crate::driver::flush`]); only the driver
    /// opens and closes them.
    pub(crate) sockets: HashMap<ConnId, Socket>,
    /// Bytes queued in every socket's outbox, waiting for a writer task.
    pub(crate) backlog: Arc<AtomicUsize>,
}

/// The core, shared by the driver task and every handle. Handles run
/// hot commands (a producer's send) under the lock themselves instead of
/// queueing a job, write the requests they made ready, and wake the
/// driver only for what else the command left (a connection to open, a
/// sooner timeout): a stream of sends seldom wakes it at all.
/// The lock is never held across an `.await`.
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// Wakes the driver; a wake-up given while it is busy is kept.
    pub(crate) wake: Notify,
    /// Wakes senders waiting for room in the producer's buffer.
    pub(crate) room: Arc<Notify>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(core: Core) -> Self {
        let room = Arc::clone(&core.room);
        Self {
            core: Mutex::new(core),
            wake: Notify::new(),
            room,
        }
    }

    /// The core; a lock poisoned by a panic counts as a closed client.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Core>, Error> {
        self.core.lock().map_err(|_| Error::Closed)
    }

    /// Runs a command on the core from a handle and writes the requests
    /// it makes ready to their sockets, so a request costs no hop through
    /// the driver; the driver is woken only for what else the command left
    /// (a connection to open, a sooner timeout).
    pub(crate) fn command<R>(&self, f: impl FnOnce(&mut Core, Instant) -> R) -> Result<R, Error> {
        let (r, wake) = {
            let mut core = self.lock()?;
            let now = Instant::now();
            let r = f(&mut core, now);
            (r, crate::driver::after_command(&mut core, now))
        };
        if wake {
            self.wake.notify_one();
        }
        Ok(r)
    }
}

/// A token and how long it stays valid, or why there is none.
pub type TokenResult = Result<(String, Duration), String>;

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

/// A reply that wakes an async caller.
pub(crate) fn reply<T: Send + 'static>(
    tx: oneshot::Sender<Result<T, Error>>,
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
            oauth_fetching: false,
            shut_down: false,
            room: Arc::new(Notify::new()),
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
            self.room.notify_waiters();
        }
        self.calls.handle_event(&mut self.client, now, event);
        if fatal {
            self.finish();
        }
    }

    /// Runs the token provider in a task; its answer comes back as a job.
    fn fetch_token(&mut self) {
        let Some((provider, jobs)) = &self.oauth else {
            warn!(target: "kafka_tokio::core", "OAUTHBEARER token needed but no token provider was given");
            return;
        };
        if self.oauth_fetching {
            return;
        }
        self.oauth_fetching = true;
        let (fetch, jobs) = (provider.token(), jobs.clone());
        tokio::spawn(async move {
            let result = fetch.await;
            let Some(jobs) = jobs.upgrade() else { return };
            let _ = jobs.send(Box::new(move |core: &mut Core, now: Instant| {
                core.oauth_fetching = false;
                match result {
                    Ok((token, lifetime)) => {
                        if let Err(e) = core.client.set_oauth_token(now, token, lifetime) {
                            warn!(target: "kafka_tokio::core", error = %e, "token refused");
                        }
                    }
                    // The core asks again after the setup timeout.
                    Err(e) => {
                        warn!(target: "kafka_tokio::core", error = %e, "token provider failed")
                    }
                }
            }));
        });
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
        self.room.notify_waiters();
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
