//! Runs the `loop` example's code against the mock.

#[allow(dead_code)] // its `main` is for `cargo run`
#[path = "../examples/loop.rs"]
mod example;

#[test]
fn the_loop_example_runs() {
    example::run(None).expect("the example succeeds");
}

#[allow(dead_code)]
#[path = "../examples/group.rs"]
mod group_example;

#[test]
fn the_group_example_reads_and_commits_every_record() {
    let read = group_example::run(None).expect("the group example succeeds");
    assert_eq!(read, 30);
}

#[allow(dead_code)]
#[path = "../examples/copy_exactly_once.rs"]
mod copy_example;

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Harness;
use kafka_mio::{
    AutoOffsetReset, Client, Config, Event, NewTopic, ProducerRecord, Tokens, TopicPartition,
};
use kafka_proto::{ApiKey, ErrorCode};
use kafka_testkit::example::{self as harness, wait_for_an_abort, Report};

/// Set in a child process: the copy example's arguments, one a line. The
/// example runs in this test binary started again, so that it can be
/// killed.
const CHILD: &str = "COPY_EXACTLY_ONCE_ARGS";

/// Starts this binary again as the example with `args`; see
/// [`harness::start`].
fn start(test: &str, args: &[&str]) -> (harness::Instance, mpsc::Receiver<Report>) {
    harness::start(test, CHILD, args)
}

/// In a child process, runs the copy example and exits; else returns.
fn be_the_copy_example_if_asked() {
    let Ok(args) = std::env::var(CHILD) else {
        return;
    };
    let args = copy_example::Args::parse(args.lines().map(String::from)).expect("arguments");
    let code = match copy_example::run(&args, &copy_example::stop_when_stdin_closes()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("copy_exactly_once: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// The copy example, killed midway and restarted with the same
/// transactional id, joined by a second instance in its group, then made
/// to abort (the group coordinator refuses offsets as after a rebalance),
/// leaves every source record in the target exactly once (as a read_committed reader sees it), in the
/// source's partition, with its key and headers; the group's offsets end
/// at the source's end.
#[test]
fn the_copy_example_copies_exactly_once_across_a_kill() {
    be_the_copy_example_if_asked();
    // Records in the source before the copy starts, and written while
    // the second instance runs.
    const N: usize = 300;
    const MORE: usize = 60;
    let test = "the_copy_example_copies_exactly_once_across_a_kill";
    let mock = kafka_mock::MockCluster::builder()
        .brokers(3)
        .build()
        .unwrap();
    let bootstrap = mock.bootstrap();
    let mut h = Harness::new();
    let admin = h.client(&bootstrap, Tokens::range(100..200));
    for topic in ["src", "dst"] {
        let id = h.clients[admin]
            .create_topic(NewTopic::new(topic, 3, 1))
            .unwrap();
        kafka_mio::Error::check_topics(&match h.outcome(admin, id) {
            kafka_mio::AdminOutcome::CreateTopics(t) => t,
            other => panic!("{other:?}"),
        })
        .unwrap();
    }
    // Where each source record went: its partition.
    let mut source = BTreeMap::new();
    let produce = |h: &mut Harness, range: std::ops::Range<usize>, source: &mut BTreeMap<_, _>| {
        let mut ids = BTreeMap::new();
        for i in range {
            let r = ProducerRecord::new("src")
                .with_key(format!("k{i}"))
                .with_value(format!("v{i}"))
                .with_header("i", Some(i.to_string().into()));
            ids.insert(h.clients[admin].send(r).unwrap(), format!("v{i}"));
        }
        h.clients[admin].flush().unwrap();
        let answered = |h: &Harness| {
            h.seen[admin]
                .iter()
                .flat_map(Event::outcomes)
                .filter(|(id, _)| ids.contains_key(id))
                .count()
        };
        h.until(|h| answered(h) == ids.len());
        for (id, result) in h.seen[admin].iter().flat_map(Event::outcomes) {
            if let Some(value) = ids.get(&id) {
                source.insert(value.clone(), result.unwrap().partition);
            }
        }
    };
    produce(&mut h, 0..N, &mut source);

    let args = [
        "--bootstrap",
        &bootstrap,
        "--from",
        "src",
        "--to",
        "dst",
        "--group",
        "copier",
        "--transactional-id",
        "copier-1",
        "--batch",
        "7",
    ];
    // The first instance copies a part and is killed.
    let (first, reports) = start(test, &args);
    let mut copied = 0;
    while copied < N / 3 {
        let report = reports.recv_timeout(Duration::from_secs(60));
        match report.expect("the first instance commits in time") {
            Report::Committed(n) => copied += n,
            Report::Aborted => panic!("nothing failed yet"),
        }
    }
    first.kill();

    // The second takes over with the same id.
    let (second, reports) = start(test, &args);
    let report = reports.recv_timeout(Duration::from_secs(60));
    assert!(
        matches!(report, Ok(Report::Committed(_))),
        "the second instance commits in time: {report:?}"
    );
    // Another instance joins the group (with its own transactional id):
    // both go back to the group's offsets after the rebalance.
    let mut args_2 = args;
    args_2[9] = "copier-2";
    let (third, third_reports) = start(test, &args_2);
    // The group coordinator refuses the next offsets, as after a
    // rebalance: the example aborts, goes back and copies them again.
    mock.inject_error(ApiKey::TxnOffsetCommit, ErrorCode::IllegalGeneration, 2);
    produce(&mut h, N..N + MORE, &mut source);
    wait_for_an_abort(&[&reports, &third_reports]);

    let mut config = Config::bootstrap(&bootstrap).unwrap();
    config.consumer.isolation_level = kafka_state::consumer::IsolationLevel::ReadCommitted;
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    let reader =
        h.add(Client::connect(config, h.poll.registry(), Tokens::range(200..300)).unwrap());
    h.clients[reader]
        .assign((0..3).map(|p| TopicPartition::new("dst", p)))
        .unwrap();
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_until = None;
    // Until all arrived and a second passed with nothing more.
    while quiet_until.is_none_or(|t| Instant::now() < t) {
        assert!(Instant::now() < deadline, "{} copied", seen.len());
        h.turn(Duration::from_millis(100));
        // Read in place: the records are lent, not copied.
        while let Some(fetched) = h.clients[reader].poll_records() {
            let end = fetched.into_iter().lend(|r| {
                let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                let i = &value[1..];
                assert_eq!(r.key, Some(format!("k{i}").as_bytes()));
                assert_eq!(r.headers.last("i"), Some(Some(i.as_bytes())));
                assert_eq!(Some(&r.partition), source.get(&value), "{value}");
                assert!(seen.insert(value, r.offset).is_none(), "a copy twice");
                std::ops::ControlFlow::Continue(())
            });
            assert!(matches!(end, kafka_mio::Lent::End), "{end:?}");
        }
        if seen.len() == N + MORE && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    assert_eq!(seen.len(), N + MORE);

    // Closing stdin stops them cleanly.
    second.stop();
    third.stop();

    let id = h.clients[admin]
        .core_mut()
        .admin()
        .group_offsets(Instant::now(), "copier")
        .unwrap();
    let kafka_mio::AdminOutcome::GroupOffsets(offsets) = h.outcome(admin, id) else {
        panic!("not group offsets");
    };
    let total: i64 = (0..3)
        .map(|p| {
            let tp = TopicPartition::new("src", p);
            offsets.offsets[&tp].as_ref().unwrap().offset
        })
        .sum();
    assert_eq!(total, (N + MORE) as i64, "{offsets:?}");
}
