//! The driver's state: the sans-IO client and the application calls
//! waiting for its events.

use std::collections::HashMap;
use std::time::Instant;

use kafka_state::{AdminOutcome, Event, RequestId};
use std::sync::mpsc;
use tracing::debug;

use crate::Error;

const LOG: &str = "kafka_blocking::core";

/// A reply channel.
pub(crate) type Reply<T> = mpsc::SyncSender<Result<T, Error>>;

/// Everything the driver task owns besides sockets.
pub(crate) struct Core {
    pub(crate) client: kafka_state::Client,
    pub(crate) admin: HashMap<RequestId, Reply<AdminOutcome>>,
    pub(crate) closing: Vec<mpsc::SyncSender<()>>,
    shut_down: bool,
}

impl Core {
    pub(crate) fn new(client: kafka_state::Client) -> Self {
        Self {
            client,
            admin: HashMap::new(),
            closing: Vec::new(),
            shut_down: false,
        }
    }

    /// Routes one core event to whoever waits for it.
    pub(crate) fn handle_event(&mut self, _now: Instant, event: Event) {
        match event {
            Event::AdminResult { id, result } => {
                if let Some(reply) = self.admin.remove(&id) {
                    let _ = reply.send(result.map_err(Error::from));
                }
            }
            Event::Fatal(fatal) => {
                let error = Error::Fatal(fatal);
                for (_, reply) in self.admin.drain() {
                    let _ = reply.send(Err(error.clone()));
                }
                self.finish();
            }
            other => debug!(target: LOG, event = ?other, "event"),
        }
    }

    /// Closes the client; pending calls fail with [`Error::Closed`].
    pub(crate) fn close(&mut self, now: Instant) {
        self.client.close(now);
        while let Some(event) = self.client.poll_event() {
            self.handle_event(now, event);
        }
        for (_, reply) in self.admin.drain() {
            let _ = reply.send(Err(Error::Closed));
        }
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
