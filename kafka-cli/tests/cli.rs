//! `kfk` as a user runs it: a child process against the mock cluster.

use std::process::{Command, Output};

use kafka_mock::MockCluster;

fn kfk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kfk"))
        .args(args)
        .env_remove("KFK_BOOTSTRAP")
        .output()
        .expect("kfk runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails the test unless `o` is a failure with exactly one stderr line
/// and no panic.
fn assert_one_line_failure(o: &Output, contains: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("kfk: "), "{err}");
    assert!(err.contains(contains), "{err} should mention {contains}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn topics_and_metadata() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    let b = mock.bootstrap();
    let o = kfk(&["-b", &b, "topic", "create", "events", "--partitions", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "topic", "list"]);
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), ["events"]);

    let o = kfk(&["-b", &b, "metadata", "-t", "events", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(md["brokers"].as_array().unwrap().len(), 2);
    let topic = &md["topics"][0];
    assert_eq!(topic["name"], "events");
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 3);

    let o = kfk(&["-b", &b, "metadata"]);
    let text = stdout(&o);
    assert!(text.contains("2 brokers"), "{text}");
    assert!(
        text.contains("topic \"events\" with 3 partitions"),
        "{text}"
    );

    let o = kfk(&["-b", &b, "topic", "create", "events", "--partitions", "3"]);
    assert_one_line_failure(&o, "TOPIC_ALREADY_EXISTS");
    let o = kfk(&["-b", &b, "topic", "delete", "events"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "topic", "list"]);
    assert_eq!(stdout(&o), "");
}

#[test]
fn failures_are_one_clear_line() {
    let mock = MockCluster::builder().build().unwrap();
    let b = mock.bootstrap();
    assert_one_line_failure(
        &kfk(&["-b", &b, "metadata", "-t", "missing"]),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );
    assert_one_line_failure(&kfk(&["-b", &b, "topic", "delete", "missing"]), "missing");
    let port = kafka_testkit::free_port().unwrap();
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &format!("127.0.0.1:{port}"),
            "-X",
            "default.api.timeout.ms=300",
            "topic",
            "list",
        ]),
        "cannot reach",
    );
    assert_one_line_failure(&kfk(&["-b", "nonsense", "topic", "list"]), "-b");
    assert_one_line_failure(&kfk(&["-X", "bogus=1", "topic", "list"]), "unknown setting");
    assert_one_line_failure(
        &kfk(&["-b", &b, "topic", "create", "bad name!"]),
        "bad name!",
    );
}
