//! Runs the `copy_exactly_once` example against the mock, killed midway,
//! restarted with the same transactional id and made to abort, and checks
//! that the target topic holds every source record exactly once.
//!
//! The example runs in a child process: this test binary itself, started
//! again with the example's arguments in [`CHILD`].

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafka_blocking::{
    AutoOffsetReset, Client, Config, IsolationLevel, NewTopic, ProducerRecord, TopicPartition,
};
use kafka_proto::{ApiKey, ErrorCode};
use kafka_testkit::example::{self as harness, wait_for_an_abort, Report};

#[allow(dead_code)] // its `main` is for `cargo run`
#[path = "../examples/copy_exactly_once.rs"]
mod example;

/// Set in a child: the example's arguments, separated by newlines.
const CHILD: &str = "COPY_EXACTLY_ONCE_ARGS";

/// Starts this binary again as the example with `args`; see
/// [`harness::start`].
fn start(test: &str, args: &[&str]) -> (harness::Instance, mpsc::Receiver<Report>) {
    harness::start(test, CHILD, args)
}
/// Records in the source before the copy starts, and written while the
/// second instance runs.
const N: usize = 300;
const MORE: usize = 60;

/// In a child process, runs the example and exits; else returns.
fn be_the_example_if_asked() {
    let Ok(args) = std::env::var(CHILD) else {
        return;
    };
    let args = example::Args::parse(args.lines().map(String::from)).expect("arguments");
    let code = match example::run(&args, &example::stop_when_stdin_closes()) {
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
    be_the_example_if_asked();
    let test = "the_copy_example_copies_exactly_once_across_a_kill";
    let mock = kafka_mock::MockCluster::builder()
        .brokers(3)
        .build()
        .unwrap();
    let bootstrap = mock.bootstrap();
    let admin = Client::bootstrap(&bootstrap).unwrap();
    admin.create_topic(NewTopic::new("src", 3, 1)).unwrap();
    admin.create_topic(NewTopic::new("dst", 3, 1)).unwrap();
    // Where each source record went: its partition.
    let mut source = BTreeMap::new();
    let mut produce = |from: usize, to: usize| {
        let producer = admin.producer();
        let deliveries: Vec<_> = (from..to)
            .map(|i| {
                let r = ProducerRecord::new("src")
                    .with_key(format!("k{i}"))
                    .with_value(format!("v{i}"))
                    .with_header("i", Some(i.to_string().into()));
                (i, producer.send(r).unwrap())
            })
            .collect();
        for (i, d) in deliveries {
            source.insert(format!("v{i}"), d.wait().unwrap().partition);
        }
    };
    produce(0, N);

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
    produce(N, N + MORE);
    wait_for_an_abort(&[&reports, &third_reports]);

    let mut config = Config::bootstrap(&bootstrap).unwrap();
    config.consumer.isolation_level = IsolationLevel::ReadCommitted;
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;
    let reader = Client::connect(config).unwrap();
    let mut consumer = reader.consumer().unwrap();
    consumer.assign_topic("dst").unwrap();
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_until = None;
    // Until all arrived and a second passed with nothing more.
    while quiet_until.is_none_or(|t| Instant::now() < t) {
        assert!(Instant::now() < deadline, "{} copied", seen.len());
        for r in consumer.poll(Duration::from_millis(100)).unwrap() {
            let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            let i = &value[1..];
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(r.headers.last("i"), Some(Some(i.to_string().into())));
            assert_eq!(Some(&r.partition), source.get(&value), "{value}");
            assert!(seen.insert(value, r.offset).is_none(), "a copy twice");
        }
        if seen.len() == N + MORE && quiet_until.is_none() {
            quiet_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    assert_eq!(seen.len(), N + MORE);

    // Closing stdin stops them cleanly.
    second.stop();
    third.stop();

    let offsets = admin.group_offsets("copier").unwrap();
    let total: i64 = (0..3)
        .map(|p| {
            let tp = TopicPartition::new("src", p);
            offsets.offsets[&tp].as_ref().unwrap().offset
        })
        .sum();
    assert_eq!(total, (N + MORE) as i64, "{offsets:?}");
}
