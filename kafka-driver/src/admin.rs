//! Admin calls with typed results: each call says what its answer is,
//! so an adapter never matches a generic outcome.

use std::time::Instant;

use kafka_state::admin::{AdminOutcome, NewTopic, TopicOutcome};
use kafka_state::{Client, ClusterMetadata, Misuse, RequestId};

use crate::calls::{Calls, Deliver, Reply};
use crate::Error;

type Start = Box<dyn FnOnce(&mut Client, Instant) -> Result<RequestId, Misuse> + Send>;

/// An admin command and the kind of answer it gets.
pub struct AdminCall<T> {
    start: Start,
    answer: fn(AdminOutcome) -> Option<T>,
}

impl<T> std::fmt::Debug for AdminCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCall").finish_non_exhaustive()
    }
}

fn metadata_of(o: AdminOutcome) -> Option<ClusterMetadata> {
    match o {
        AdminOutcome::Metadata(m) => Some(m),
        _ => None,
    }
}

/// Metadata of `topics` (never creating them).
pub fn metadata(topics: Vec<String>) -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().metadata(now, topics)),
        answer: metadata_of,
    }
}

/// Metadata of every topic.
pub fn metadata_all() -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(|c, now| c.admin().metadata_all(now)),
        answer: metadata_of,
    }
}

/// The brokers of the cluster (metadata without topics): what a client
/// waits for when it starts.
pub fn brokers() -> AdminCall<ClusterMetadata> {
    AdminCall {
        start: Box::new(|c, now| c.admin().brokers(now)),
        answer: metadata_of,
    }
}

/// Creates topics; each gets its outcome.
pub fn create_topics(topics: Vec<NewTopic>) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().create_topics(now, topics)),
        answer: |o| match o {
            AdminOutcome::CreateTopics(v) => Some(v),
            _ => None,
        },
    }
}

/// Deletes topics; each gets its outcome.
pub fn delete_topics(names: Vec<String>) -> AdminCall<Vec<TopicOutcome>> {
    AdminCall {
        start: Box::new(move |c, now| c.admin().delete_topics(now, names)),
        answer: |o| match o {
            AdminOutcome::DeleteTopics(v) => Some(v),
            _ => None,
        },
    }
}

impl<T: Send + 'static> AdminCall<T> {
    /// Issues the command; `reply` gets its typed answer.
    pub fn start<D: Deliver>(
        self,
        client: &mut Client,
        calls: &mut Calls<D>,
        now: Instant,
        reply: Reply<T>,
    ) {
        let answer = self.answer;
        calls.admin(
            client,
            now,
            self.start,
            Box::new(move |r| {
                reply(r.and_then(|o| {
                    answer(o).ok_or(Error::Unexpected("an admin call got another call's answer"))
                }))
            }),
        );
    }
}
