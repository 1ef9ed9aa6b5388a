//! A hand-written mio loop around one or more clients, bounded in time.

#![allow(dead_code)] // each test file uses a different part

use std::time::{Duration, Instant};

use kafka_mio::{AdminOutcome, AdminResult, Client, Event, RequestId, Tokens};
use mio::{Events, Poll, Token};

pub mod suite;

/// Every wait in these tests gives up after this long.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A `Poll` driving clients, recording what they and the application saw.
pub struct Harness {
    pub poll: Poll,
    events: Events,
    pub clients: Vec<Client>,
    /// Events taken from each client, in order.
    pub seen: Vec<Vec<Event>>,
    /// Readiness events for tokens no client owns.
    pub foreign: Vec<Token>,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(64),
            clients: Vec::new(),
            seen: Vec::new(),
            foreign: Vec::new(),
        }
    }

    /// Adds a client bootstrapped from `servers` with `tokens`; returns
    /// its index.
    pub fn client(&mut self, servers: &str, tokens: Tokens) -> usize {
        let client = Client::bootstrap(servers, self.poll.registry(), tokens).expect("client");
        self.add(client)
    }

    pub fn add(&mut self, client: Client) -> usize {
        self.clients.push(client);
        self.seen.push(Vec::new());
        self.clients.len() - 1
    }

    /// One turn of the loop: poll (at most `max` long), dispatch, timers,
    /// events.
    pub fn turn(&mut self, max: Duration) {
        let timeout = self
            .clients
            .iter()
            .filter_map(Client::next_timeout)
            .min()
            .map_or(max, |t| t.min(max));
        self.poll
            .poll(&mut self.events, Some(timeout))
            .expect("poll");
        for event in self.events.iter() {
            let mine = self
                .clients
                .iter_mut()
                .filter(|c| c.owns(event.token()))
                .count();
            assert!(mine <= 1, "two clients own {:?}", event.token());
            let handled = self.clients.iter_mut().any(|c| c.handle_event(event));
            if !handled {
                self.foreign.push(event.token());
            }
        }
        for (i, client) in self.clients.iter_mut().enumerate() {
            client.handle_timeout();
            while let Some(event) = client.poll_event() {
                self.seen[i].push(event);
            }
        }
    }

    /// Turns the loop until `done` holds, panicking after [`LIMIT`].
    pub fn until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "gave up after {LIMIT:?}");
            self.turn(Duration::from_millis(100));
        }
    }

    /// The result of client `i`'s command `id`, once it arrives.
    pub fn result(&mut self, i: usize, id: RequestId) -> AdminResult {
        let find = |h: &Self| {
            h.seen[i].iter().find_map(|e| match e {
                Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
                _ => None,
            })
        };
        self.until(|h| find(h).is_some());
        find(self).expect("found")
    }

    /// The outcome of a command expected to succeed.
    pub fn outcome(&mut self, i: usize, id: RequestId) -> AdminOutcome {
        self.result(i, id).expect("command succeeded")
    }
}
