//! A consumer-group member on a hand-written mio loop: start an in-process
//! mock cluster, write a few records, join a group, read them, commit what
//! was read and leave.
//!
//! `cargo run -p kafka-mio --example group`, or pass a bootstrap list
//! (`host:port[,..]`) to use a real cluster instead of the mock.

use std::error::Error;
use std::time::{Duration, Instant};

use kafka_mio::{
    AdminOutcome, AutoOffsetReset, Client, Config, ConsumerEvent, Event, GroupConfig, GroupEvent,
    NewTopic, ProducerRecord, RequestId, Tokens,
};
use mio::{Events, Poll};

const RECORDS: usize = 30;

fn main() -> Result<(), Box<dyn Error>> {
    let read = run(std::env::args().nth(1))?;
    println!("read and committed {read} records");
    Ok(())
}

/// What the loop waits for next.
enum Step {
    CreatingTopic(RequestId),
    Producing { delivered: usize },
    Consuming,
    Committing(RequestId),
    Done,
}

/// Writes `RECORDS` records to a new topic on `servers` (an in-process mock
/// when `None`), reads them back as the only member of a new group, commits
/// and returns how many were read.
pub fn run(servers: Option<String>) -> Result<usize, Box<dyn Error>> {
    let mock;
    let bootstrap = match servers {
        Some(servers) => servers,
        None => {
            mock = kafka_mock::MockCluster::builder().brokers(3).build()?;
            mock.bootstrap()
        }
    };
    let topic = format!("orders-{}", std::process::id());

    let mut config = Config::bootstrap(&bootstrap)?;
    let mut group = GroupConfig::new(format!("order-audit-{}", std::process::id()));
    // The application commits what it processed itself.
    group.enable_auto_commit = false;
    config.group = Some(group);
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(128);
    let mut client = Client::connect(config, poll.registry(), Tokens::range(1024..2048))?;

    let mut step = Step::CreatingTopic(client.create_topic(NewTopic::new(&topic, 3, 1))?);
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(step, Step::Done) {
        if Instant::now() > deadline {
            return Err("the example did not finish within 60 s".into());
        }
        poll.poll(&mut events, client.next_timeout())?;
        for event in events.iter() {
            // The example registers no tokens of its own.
            client.handle_event(event);
        }
        client.handle_timeout();

        // Taking records is what keeps the member in its group (its max
        // poll interval), so a group consumer asks on every turn.
        while let Some(fetched) = client.poll_records() {
            for record in fetched {
                let record = record?;
                read += 1;
                // Stored offsets are what a commit without arguments covers.
                client.core_mut().consumer().store_record(&record)?;
            }
        }
        if matches!(step, Step::Consuming) && read >= RECORDS {
            step = Step::Committing(client.commit(None)?);
        }

        while let Some(event) = client.poll_event() {
            match (&mut step, event) {
                (Step::CreatingTopic(id), Event::AdminResult { id: done, result })
                    if *id == done =>
                {
                    let AdminOutcome::CreateTopics(outcomes) = result? else {
                        return Err("unexpected admin outcome".into());
                    };
                    kafka_mio::Error::check_topics(&outcomes)?;
                    for i in 0..RECORDS {
                        let record = ProducerRecord::new(topic.as_str())
                            .with_key(format!("order-{i}"))
                            .with_value(format!("{{\"amount\":{i}}}"));
                        client.send(record).map_err(|e| format!("send: {e:?}"))?;
                    }
                    client.flush()?;
                    step = Step::Producing { delivered: 0 };
                }
                (Step::Producing { .. }, Event::DeliveryFailed { error, .. }) => {
                    return Err(error.into());
                }
                (Step::Producing { delivered }, Event::Delivered(batch)) => {
                    *delivered += batch.len();
                    if *delivered == RECORDS {
                        client.subscribe([topic.as_str()])?;
                        step = Step::Consuming;
                    }
                }
                (_, Event::Consumer(ConsumerEvent::PartitionsAssigned { partitions })) => {
                    println!("assigned {partitions:?}");
                }
                (_, Event::Group(GroupEvent::Committed { id, offsets, .. })) => {
                    if matches!(step, Step::Committing(mine) if mine == id) {
                        for (partition, outcome) in offsets {
                            let committed = outcome?;
                            println!("committed {partition} at {}", committed.offset);
                        }
                        step = Step::Done;
                    }
                }
                (_, Event::Group(GroupEvent::Failed(error))) => return Err(error.into()),
                _ => {} // connections, metadata, other group news
            }
        }
    }
    client.close();
    Ok(read)
}
