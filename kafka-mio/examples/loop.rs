//! A hand-written mio loop: start an in-process mock cluster, create a
//! topic, print its metadata.
//!
//! `cargo run -p kafka-mio --example loop`, or pass a bootstrap list
//! (`host:port[,..]`) to use a real cluster instead of the mock.

use std::error::Error;
use std::time::{Duration, Instant};

use kafka_mio::{AdminOutcome, Client, Event, NewTopic, RequestId, Tokens};
use mio::{Events, Poll, Token};

/// The application's own tokens stay below this; the client gets the rest.
const CLIENT_TOKENS: std::ops::Range<usize> = 1024..2048;

fn main() -> Result<(), Box<dyn Error>> {
    run(std::env::args().nth(1))
}

/// Creates a topic on `servers` (an in-process mock when `None`) and
/// prints its metadata.
pub fn run(servers: Option<String>) -> Result<(), Box<dyn Error>> {
    let mock;
    let bootstrap = match servers {
        Some(servers) => servers,
        None => {
            mock = kafka_mock::MockCluster::builder().brokers(3).build()?;
            mock.bootstrap()
        }
    };

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(128);
    let mut client = Client::bootstrap(&bootstrap, poll.registry(), Tokens::range(CLIENT_TOKENS))?;

    let topic = format!("example-{}", std::process::id());
    let mut waiting: Option<RequestId> = Some(client.create_topic(NewTopic::new(&topic, 6, 1))?);
    let mut created = false;

    let deadline = Instant::now() + Duration::from_secs(30);
    while waiting.is_some() {
        if Instant::now() > deadline {
            return Err("no answer within 30 s".into());
        }
        // Wait for a socket or the client's next timer; an application
        // would take the earliest of its own deadlines too.
        poll.poll(&mut events, client.next_timeout())?;
        for event in events.iter() {
            if !client.handle_event(event) {
                handle_own_event(event.token());
            }
        }
        client.handle_timeout();

        while let Some(event) = client.poll_event() {
            let Event::AdminResult { id, result } = event else {
                continue; // connections coming and going, metadata refreshes
            };
            if Some(id) != waiting {
                continue;
            }
            match result? {
                AdminOutcome::CreateTopics(outcomes) if !created => {
                    kafka_mio::Error::check_topics(&outcomes)?;
                    println!("created {topic}");
                    created = true;
                    waiting = Some(client.metadata([topic.as_str()])?);
                }
                AdminOutcome::Metadata(metadata) => {
                    let t = metadata
                        .topic(&topic)
                        .ok_or("topic missing from metadata")?;
                    println!("{topic}: {} partitions", t.partitions.len());
                    for p in &t.partitions {
                        match p.leader {
                            Some(leader) => {
                                println!("  partition {} led by broker {leader}", p.partition)
                            }
                            None => println!("  partition {} has no leader", p.partition),
                        }
                    }
                    for (id, addr) in metadata.brokers() {
                        println!("broker {id} at {addr}");
                    }
                    waiting = None;
                }
                other => return Err(format!("unexpected outcome {other:?}").into()),
            }
        }
    }
    client.close();
    Ok(())
}

fn handle_own_event(token: Token) {
    // This example registers nothing of its own.
    println!("event for the application's token {token:?}");
}
