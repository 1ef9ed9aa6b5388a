//! The driver's state: the sans-IO client and the calls waiting on it.

use std::sync::mpsc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kafka_state::calls::Calls;
use kafka_state::Event;

use crate::Error;

/// Everything the driver thread owns besides sockets.
pub(crate) struct Core {
    pub(crate) client: kafka_state::Client,
    pub(crate) calls: Calls,
    pub(crate) closing: Vec<mpsc::SyncSender<()>>,
    shut_down: bool,
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
            shut_down: false,
        }
    }

    /// Routes one core event to whoever waits for it.
    pub(crate) fn handle_event(&mut self, now: Instant, event: Event) {
        let fatal = matches!(event, Event::Fatal(_));
        self.calls.handle_event(&mut self.client, now, event);
        if fatal {
            self.finish();
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

    fn finish(&mut self) {
        self.shut_down = true;
        for done in self.closing.drain(..) {
            let _ = done.send(());
        }
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
