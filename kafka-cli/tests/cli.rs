//! `kfk` as a user runs it: a child process against the mock cluster, and
//! the same commands against a 3-node Apache Kafka cluster.

use std::process::{Command, Output};

use kafka_mock::MockCluster;
use kafka_testkit::KafkaCluster;

fn kfk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kfk"))
        .args(args)
        .env_remove("KFK_BOOTSTRAP")
        .output()
        .expect("kfk runs")
}

/// kfk with `-b BOOTSTRAP` before `args`.
fn kfk_at(bootstrap: &str, args: &[&str]) -> Output {
    let mut all = vec!["-b", bootstrap];
    all.extend_from_slice(args);
    kfk(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stdout of a command that must succeed (else the test fails with
/// its stderr).
fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// A table's lines split into their cells (the header first).
fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
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
    topics_and_metadata_on(&mock.bootstrap(), 2, "events", true);
}

#[test]
fn topics_and_metadata_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let topic = format!("events-{}", std::process::id());
    topics_and_metadata_on(&kafka.bootstrap(), 3, &topic, false);
}

/// Topic create, list, metadata, a refused second create, delete. `alone`:
/// the topic is the cluster's only one (the shared Kafka cluster has
/// others).
fn topics_and_metadata_on(b: &str, brokers: usize, topic: &str, alone: bool) {
    let o = kfk(&["-b", b, "topic", "create", topic, "--partitions", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", b, "topic", "list"]);
    let listed = stdout(&o);
    let listed: Vec<&str> = listed.lines().collect();
    if alone {
        assert_eq!(listed, [topic]);
    } else {
        assert!(listed.contains(&topic), "{listed:?}");
    }

    // Kafka creates topics asynchronously: until every broker learned the
    // partitions, Metadata may list the topic without them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let md = loop {
        let o = kfk(&["-b", b, "metadata", "-t", topic, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let md: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        if md["topics"][0]["partitions"].as_array().map(Vec::len) == Some(3) {
            break md;
        }
        assert!(std::time::Instant::now() < deadline, "{md}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(md["brokers"].as_array().unwrap().len(), brokers);
    assert_eq!(md["topics"][0]["name"], topic);

    let o = kfk(&["-b", b, "metadata"]);
    let text = stdout(&o);
    assert!(text.contains(&format!("{brokers} brokers")), "{text}");
    assert!(
        text.contains(&format!("topic \"{topic}\" with 3 partitions")),
        "{text}"
    );

    let o = kfk(&["-b", b, "topic", "create", topic, "--partitions", "3"]);
    assert_one_line_failure(&o, "TOPIC_ALREADY_EXISTS");
    let o = kfk(&["-b", b, "topic", "delete", topic]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Deletion is asynchronous on Kafka too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = kfk(&["-b", b, "topic", "list"]);
        if !stdout(&o).lines().any(|l| l == topic) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{topic} stays listed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
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
    // Command-line mistakes are one line too (clap's usage text is folded).
    assert_one_line_failure(&kfk(&["produce"]), "--topic");
    assert_one_line_failure(&kfk(&["consume", "-t", "x", "-f", "yaml"]), "yaml");
    assert_one_line_failure(&kfk(&["no-such-command"]), "no-such-command");
    assert!(kfk(&["--help"]).status.success());
    assert_one_line_failure(&kfk(&["-X", "bogus=1", "topic", "list"]), "unknown setting");
    assert_one_line_failure(
        &kfk(&["-b", &b, "topic", "create", "bad name!"]),
        "bad name!",
    );
}

fn kfk_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kfk"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kfk runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn produce_then_consume_as_json_and_text() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    produce_then_consume_on(&mock.bootstrap(), "lines");
}

/// On Kafka, `consume -e` ends at the high watermark and `offsets` counts
/// the records exactly.
#[test]
fn produce_then_consume_as_json_and_text_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    produce_then_consume_on(&kafka.bootstrap(), &format!("lines-{}", std::process::id()));
}

fn produce_then_consume_on(b: &str, topic: &str) {
    assert!(
        kfk(&["-b", b, "topic", "create", topic, "--partitions", "2"])
            .status
            .success()
    );
    let input: String = (0..50).map(|i| format!("k{}:value {i}\n", i % 3)).collect();
    let o = kfk_stdin(
        &[
            "-b",
            b,
            "produce",
            "-t",
            topic,
            "-K",
            ":",
            "-H",
            "src=test",
            "--compression",
            "lz4",
        ],
        &input,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("produced 50 records"), "{}", stderr(&o));

    let o = kfk(&["-b", b, "consume", "-t", topic, "-e", "-f", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let records: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 50);
    for r in &records {
        assert_eq!(r["topic"], topic);
        assert_eq!(r["headers"], serde_json::json!([["src", "test"]]));
        let value = r["value"].as_str().unwrap();
        let i: u32 = value.strip_prefix("value ").unwrap().parse().unwrap();
        assert_eq!(r["key"], format!("k{}", i % 3));
        assert!(r["timestamp"].as_i64().unwrap() > 0);
    }

    // Text, one partition, from an offset, a count.
    let o = kfk(&[
        "-b", b, "consume", "-t", topic, "-p", "1", "-o", "2", "-c", "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 3);

    let o = kfk(&["-b", b, "offsets", "-t", topic]);
    let text = stdout(&o);
    let total: i64 = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 50, "{text}");

    assert_one_line_failure(
        &kfk(&["-b", b, "consume", "-t", topic, "-p", "7", "-e"]),
        "no partition 7",
    );
    assert_one_line_failure(
        &kfk(&["-b", b, "consume", "-t", topic, "-o", "soon"]),
        "-o soon",
    );
    assert_one_line_failure(
        &kfk_stdin(
            &[
                "-b",
                b,
                "produce",
                "-t",
                topic,
                "--acks",
                "1",
                "--idempotent",
            ],
            "x\n",
        ),
        "--idempotent",
    );
    assert_one_line_failure(
        &kfk_stdin(&["-b", b, "produce", "-t", "missing"], "x\n"),
        "missing",
    );
}

#[test]
fn demo_produces_and_consumes_on_the_embedded_mock() {
    let o = kfk(&["demo", "--messages", "2000"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("produced 2000 records"), "{text}");
    assert!(text.contains("consumed 2000 records"), "{text}");
    assert!(text.contains("round trip"), "{text}");
    let v = json_out(&kfk(&["demo", "--messages", "500", "--json"]));
    assert_eq!(v["produced"]["records"], 500, "{v}");
    assert_eq!(v["consumed"]["records"], 500, "{v}");
    assert!(
        v["produced"]["records_per_sec"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    assert_eq!(v["round_trip"]["count"], 1000, "{v}");
    assert!(
        v["round_trip"]["p99_us"].as_u64() >= v["round_trip"]["p50_us"].as_u64(),
        "{v}"
    );
}

#[test]
fn sasl_flags_authenticate_and_bad_ones_fail_in_one_line() {
    let mock = MockCluster::builder()
        .sasl_user(kafka_mock::SaslMechanism::ScramSha256, "kfk", "s3cret")
        .build()
        .unwrap();
    let b = mock.bootstrap();
    let auth = [
        "--sasl-mechanism",
        "SCRAM-SHA-256",
        "--sasl-username",
        "kfk",
        "--sasl-password",
        "s3cret",
    ];
    let mut args = vec!["-b", &b];
    args.extend(auth);
    args.extend(["topic", "create", "auth"]);
    let o = kfk(&args);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = kfk(&[
        "-b",
        &b,
        "-X",
        "default.api.timeout.ms=500",
        "--sasl-mechanism",
        "SCRAM-SHA-256",
        "--sasl-username",
        "kfk",
        "--sasl-password",
        "wrong",
        "topic",
        "list",
    ]);
    assert_one_line_failure(&o, "cannot reach");
    assert!(
        !stderr(&o).contains("wrong"),
        "the password must not be printed"
    );
    assert_one_line_failure(
        &kfk(&["-b", &b, "--sasl-username", "kfk", "topic", "list"]),
        "together",
    );
    assert_one_line_failure(
        &kfk(&["-b", &b, "--ca", "/nonexistent/ca.pem", "topic", "list"]),
        "--ca",
    );
}

#[test]
fn tls_flags_reach_a_broker_behind_a_tls_proxy() {
    let Some(pki) = kafka_testkit::TestPki::generate().ok() else {
        panic!("openssl is needed for the TLS test certificates")
    };
    let mock = MockCluster::builder().build().unwrap();
    let upstream = mock.brokers()[0].1.port();
    let Ok(proxy) = kafka_testkit::TlsProxy::start(&pki, upstream, false) else {
        panic!("socat is needed for the TLS proxy (scripts/test-all.sh installs it)")
    };
    // The mock advertises its plain port, so stop at the bootstrap round
    // trip: connecting proves the TLS handshake and the CA flag work.
    let b = format!("localhost:{}", proxy.port());
    let ca = pki.path("ca.pem");
    let o = kfk(&[
        "-b",
        &b,
        "--ca",
        ca.to_str().unwrap(),
        "-X",
        "default.api.timeout.ms=5000",
        "metadata",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Without the CA, the public roots refuse the test certificate.
    let o = kfk(&[
        "-b",
        &b,
        "--tls",
        "-X",
        "default.api.timeout.ms=500",
        "metadata",
    ]);
    assert_one_line_failure(&o, "cannot reach");
}

/// SASL on Kafka's SASL_PLAINTEXT listener: the right password gets in;
/// a wrong one fails in one line that says authentication failed, at once
/// rather than after the default one-minute API timeout.
#[test]
fn sasl_flags_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let b = kafka.bootstrap_for(kafka_testkit::Listener::Sasl);
    let (user, password) = kafka_testkit::kafka::DEFAULT_USER;
    let run = |password: &str| {
        kfk(&[
            "-b",
            &b,
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            user,
            "--sasl-password",
            password,
            "metadata",
            "--json",
        ])
    };
    let o = run(password);
    assert!(o.status.success(), "{}", stderr(&o));
    let started = std::time::Instant::now();
    let o = run("wrong-password");
    assert_one_line_failure(&o, "authentication failed");
    assert!(!stderr(&o).contains("wrong-password"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn group_offsets_reset_describe_list_and_delete() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    groups_on(&mock.bootstrap(), "reads", "billing", None);
}

/// The same on Kafka, where `kfk group describe` must agree with Kafka's
/// own group tool.
#[test]
fn group_offsets_reset_describe_list_and_delete_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let id = std::process::id();
    groups_on(
        &kafka.bootstrap(),
        &format!("reads-{id}"),
        &format!("billing-{id}"),
        Some(kafka),
    );
}

/// Per partition (committed, end, lag) from `kfk group describe --json`.
fn described(b: &str, group: &str) -> (serde_json::Value, Vec<(i64, i64, i64, i64)>) {
    let o = kfk(&["-b", b, "group", "describe", group, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let rows = v["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let n = |k: &str| o[k].as_i64().unwrap();
            (n("partition"), n("committed"), n("end"), n("lag"))
        })
        .collect();
    (v, rows)
}

fn groups_on(b: &str, topic: &str, group: &str, kafka: Option<&KafkaCluster>) {
    ok(kfk(&[
        "-b",
        b,
        "topic",
        "create",
        topic,
        "--partitions",
        "2",
    ]));
    let six: String = (0..6).map(|i| format!("a{i}\n")).collect();
    let four: String = (0..4).map(|i| format!("b{i}\n")).collect();
    ok(kfk_stdin(
        &["-b", b, "produce", "-t", topic, "-p", "0"],
        &six,
    ));
    ok(kfk_stdin(
        &["-b", b, "produce", "-t", topic, "-p", "1"],
        &four,
    ));

    // A dry run prints the plan and sets nothing.
    let reset = |to: &str, execute: bool| {
        let mut args = vec![
            "-b",
            b,
            "group",
            "reset-offsets",
            group,
            "-t",
            topic,
            "--to",
            to,
        ];
        if execute {
            args.push("--execute");
        }
        kfk(&args)
    };
    let o = reset("earliest", false);
    let words = |text: String| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect()
    };
    let row = |t: &str, p: &str, o: &str| vec![t.to_string(), p.to_string(), o.to_string()];
    assert_eq!(
        words(ok(o.clone())),
        [
            row("TOPIC", "PARTITION", "NEW-OFFSET"),
            row(topic, "0", "0"),
            row(topic, "1", "0")
        ]
    );
    assert!(stderr(&o).contains("--execute"), "{}", stderr(&o));
    let (v, rows) = described(b, group);
    assert_eq!(v["state"], "Dead", "nothing set yet: {v}");
    assert!(rows.is_empty());

    ok(reset("2", true));
    let (v, rows) = described(b, group);
    assert_eq!(v["group"], group);
    assert_eq!(v["state"], "Empty", "{v}");
    assert_eq!(v["protocol"], "classic");
    assert!(v["members"].as_array().unwrap().is_empty());
    assert_eq!(rows, [(0, 2, 6, 4), (1, 2, 4, 2)]);

    if let Some(kafka) = kafka {
        // Kafka's tool sees the same committed offsets, ends and lags.
        let out = kafka
            .tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand")
            .args(["--bootstrap-server", b, "--describe", "--group", group])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut theirs: Vec<(i64, i64, i64, i64)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
                (f.len() >= 6 && f[1] == topic).then(|| {
                    let n = |i: usize| f[i].parse::<i64>().unwrap();
                    (n(2), n(3), n(4), n(5))
                })
            })
            .collect();
        theirs.sort_unstable();
        assert_eq!(theirs, rows, "{text}");
    }

    ok(reset("latest", true));
    let (_, rows) = described(b, group);
    assert_eq!(rows, [(0, 6, 6, 0), (1, 4, 4, 0)]);
    let o = reset("@99999999999999", true);
    assert!(
        words(ok(o)).contains(&[row(topic, "0", "6"), vec!["OK".into()]].concat()),
        "a time past every record is the end, set"
    );

    let listed: serde_json::Value =
        serde_json::from_str(ok(kfk(&["-b", b, "group", "list", "--json"])).trim()).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["group"] == group),
        "{listed}"
    );
    assert!(ok(kfk(&["-b", b, "group", "list"]))
        .lines()
        .any(|l| l.starts_with(group)));

    ok(kfk(&["-b", b, "group", "delete", group]));
    let listed = ok(kfk(&["-b", b, "group", "list"]));
    assert!(
        !listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(group)),
        "{listed}"
    );
    assert_one_line_failure(
        &kfk(&["-b", b, "group", "delete", group]),
        "GROUP_ID_NOT_FOUND",
    );
    assert_one_line_failure(&reset("soon", false), "--to soon");
}

#[test]
fn consume_as_a_group_member_resumes_from_its_commit() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    group_consume_on(&mock.bootstrap(), "members", "printers");
}

#[test]
fn consume_as_a_group_member_resumes_from_its_commit_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let id = std::process::id();
    group_consume_on(
        &kafka.bootstrap(),
        &format!("members-{id}"),
        &format!("printers-{id}"),
    );
}

/// `consume -G`: a first run prints 20 records and commits them, a second
/// prints exactly the other 30, and the group's offsets then cover all.
fn group_consume_on(b: &str, topic: &str, group: &str) {
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    ok(kfk(&[
        "-b",
        b,
        "topic",
        "create",
        topic,
        "--partitions",
        "2",
    ]));
    let input: String = (0..50).map(|i| format!("v{i}\n")).collect();
    ok(kfk_stdin(&["-b", b, "produce", "-t", topic], &input));
    let fast = [
        "-X",
        "session.timeout.ms=10000",
        "-X",
        "heartbeat.interval.ms=1000",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["-b", b];
        args.extend(fast);
        args.extend(["consume", "-t", topic, "-G", group]);
        args.extend(extra);
        ok(kfk(&args))
    };
    let first = run(&["-c", "20"]);
    let first_lines: Vec<String> = stdout(&first).lines().map(str::to_string).collect();
    assert_eq!(first_lines.len(), 20);
    assert!(stderr(&first).contains("assigned:"), "{}", stderr(&first));
    assert!(stderr(&first).contains("committed"), "{}", stderr(&first));
    let second = run(&["-e"]);
    let mut all: Vec<String> = first_lines;
    all.extend(stdout(&second).lines().map(str::to_string));
    all.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
    want.sort();
    assert_eq!(all, want, "each record printed once over the two runs");
    let (_, rows) = described(b, group);
    let committed: i64 = rows.iter().map(|r| r.1).sum();
    assert_eq!(committed, 50, "{rows:?}");
    assert!(rows.iter().all(|r| r.3 == 0), "{rows:?}");

    // A second group over two topics, static, roundrobin, committing
    // nothing.
    let other = format!("{group}-x");
    let second_topic = format!("{topic}-2");
    ok(kfk(&[
        "-b",
        b,
        "topic",
        "create",
        &second_topic,
        "--partitions",
        "1",
    ]));
    let five: String = (50..55).map(|i| format!("v{i}\n")).collect();
    ok(kfk_stdin(&["-b", b, "produce", "-t", &second_topic], &five));
    let topics = format!("{topic},{second_topic},{topic}");
    let o = ok(kfk(&[
        "-b",
        b,
        "consume",
        "-t",
        &topics,
        "-G",
        &other,
        "-e",
        "--no-commit",
        "--assignor",
        "roundrobin",
        "--instance-id",
        "kfk-1",
    ]));
    assert_eq!(stdout(&o).lines().count(), 55);
    assert!(!stderr(&o).contains("committed"), "{}", stderr(&o));
    let o = ok(kfk(&["-b", b, "group", "describe", &other, "--json"]));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        v["offsets"].as_array().is_none_or(|a| a
            .iter()
            .all(|o| o["committed"].as_i64().is_none_or(|c| c < 0))),
        "nothing committed: {v}"
    );

    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "consume",
            "-t",
            topic,
            "-G",
            group,
            "--group-protocol",
            "consumer",
            "--assignor",
            "range",
        ]),
        "group.remote.assignor",
    );
    // A classic member compiles the regular expression itself.
    assert_one_line_failure(
        &kfk(&["-b", b, "consume", "-t", "t(", "-G", group, "--regex"]),
        "invalid regular expression",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "consume",
            "-t",
            topic,
            "-G",
            group,
            "--assignor",
            "fancy",
        ]),
        "unknown assignor",
    );
    assert_one_line_failure(
        &kfk(&["-b", b, "consume", "-t", topic, "-G", group, "-p", "0"]),
        "-G and -p",
    );
    assert_one_line_failure(
        &kfk(&["-b", b, "consume", "-t", topic, "-G", group, "-o", "5"]),
        "-o may only be",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "-X",
            "session.timeout.ms=9000",
            "consume",
            "-t",
            topic,
        ]),
        "need a group",
    );
}

#[test]
fn copy_is_exactly_once_through_kills_and_fences_a_twin() {
    let mock = MockCluster::builder().brokers(3).build().unwrap();
    copy_on(&mock.bootstrap(), "copy-src", "copy-dst", "copiers");
}

#[test]
fn copy_is_exactly_once_through_kills_and_fences_a_twin_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let id = std::process::id();
    copy_on(
        &kafka.bootstrap(),
        &format!("copy-src-{id}"),
        &format!("copy-dst-{id}"),
        &format!("copiers-{id}"),
    );
}

/// The (partition, value) of every record of `topic` a read_committed
/// reader sees, in offset order per partition.
fn committed_records(b: &str, topic: &str) -> Vec<(i64, String)> {
    let o = kfk(&[
        "-b",
        b,
        "consume",
        "-t",
        topic,
        "-e",
        "-f",
        "json",
        "--isolation",
        "read_committed",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["partition"].as_i64().unwrap(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `kfk copy`: SIGKILLed three times at different points and started
/// again, then run to the end, it copies every record exactly once and in
/// each partition's order; a second copy with the same transactional id
/// fences a first one still running.
fn copy_on(b: &str, src: &str, dst: &str, group: &str) {
    use std::time::{Duration, Instant};
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    for t in [src, dst] {
        ok(kfk(&["-b", b, "topic", "create", t, "--partitions", "3"]));
    }
    const N: usize = 6000;
    let input: String = (0..N).map(|i| format!("k{}:v{i}\n", i % 7)).collect();
    ok(kfk_stdin(
        &["-b", b, "produce", "-t", src, "-K", ":"],
        &input,
    ));
    let fast = [
        "-X",
        "session.timeout.ms=10000",
        "-X",
        "heartbeat.interval.ms=500",
    ];
    let copy = |extra: &[&str]| {
        let mut args = vec!["-b", b];
        args.extend_from_slice(&fast);
        args.extend_from_slice(&["copy", "--from", src, "--to", dst, "-G", group]);
        args.extend_from_slice(&["--transactional-id", group, "--batch", "200"]);
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_kfk"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kfk runs")
    };
    // Killed at three points: before, during and after its first commits.
    for pause in [300, 1500, 2500] {
        let mut c = copy(&[]);
        std::thread::sleep(Duration::from_millis(pause));
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let last = copy(&["-e"]);
    let out = last.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let source = committed_records(b, src);
    let copied = committed_records(b, dst);
    assert_eq!(source.len(), N);
    assert_eq!(copied.len(), N, "every record once");
    // Same partition count: each partition in the source's order.
    for p in 0..3 {
        let of = |rs: &[(i64, String)]| -> Vec<String> {
            rs.iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(of(&copied), of(&source), "partition {p}");
    }

    // A twin with the same transactional id fences the first copy: once
    // there is something to copy, the first one's commit fails for good.
    let mut first = copy(&[]);
    std::thread::sleep(Duration::from_secs(2));
    let mut twin = copy(&[]);
    std::thread::sleep(Duration::from_secs(2));
    let more: String = (N..N + 600).map(|i| format!("k{}:v{i}\n", i % 7)).collect();
    ok(kfk_stdin(
        &["-b", b, "produce", "-t", src, "-K", ":"],
        &more,
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the first copy was never fenced");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(first.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(
        err.contains("fenced") || err.contains("PRODUCER_FENCED") || err.contains("EPOCH"),
        "{err}"
    );
    twin.kill().unwrap();
    twin.wait().unwrap();
    // The twin copied the new records exactly once, with the old ones.
    let last = copy(&["-e"]);
    let out = last.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let copied = committed_records(b, dst);
    assert_eq!(copied.len(), N + 600);
    let mut values: Vec<&str> = copied.iter().map(|(_, v)| v.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), N + 600, "no record twice");
}

#[test]
fn configs_partitions_records_and_cluster() {
    let mock = MockCluster::builder().brokers(3).build().unwrap();
    admin_on(&mock.bootstrap(), "admin-t", 3);
}

#[test]
fn configs_partitions_records_and_cluster_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let topic = format!("admin-{}", std::process::id());
    admin_on(&kafka.bootstrap(), &topic, 3);
}

/// Waits until `kfk config describe` shows `key` at `want`.
fn config_becomes(b: &str, topic: &str, key: &str, want: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = kfk(&["-b", b, "config", "describe", "--topic", topic, "--json"]);
        // A broker that has not learned the topic yet refuses it: again.
        if !o.status.success() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        }
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        // An object of config name -> entry.
        let entry = v
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key}: {v}"));
        if entry["value"] == want {
            return entry;
        }
        assert!(std::time::Instant::now() < deadline, "{key} is {entry}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `kfk config`, `topic add-partitions`, `delete-records` and `cluster`,
/// and their one-line failures.
fn admin_on(b: &str, topic: &str, brokers: usize) {
    let o = kfk(&["-b", b, "topic", "create", topic, "--partitions", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Configs: describe, alter (validate only, then for real), delete.
    // Kafka creates topics asynchronously: the broker answering may not
    // know the topic for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let o = loop {
        let o = kfk(&["-b", b, "config", "describe", "--topic", topic]);
        if o.status.success() || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SOURCE", "FLAGS", "VALUE"], "{text}");
    // The value last: name, source, flags, then the number.
    let retention = rows(&text)
        .into_iter()
        .find(|r| r[0] == "retention.ms")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(retention.len(), 4, "{text}");
    assert!(!retention[1].ends_with("_CONFIG"), "{text}");
    assert!(retention[3].parse::<i64>().is_ok(), "{text}");
    let o = kfk(&[
        "-b",
        b,
        "config",
        "alter",
        "--topic",
        topic,
        "--set",
        "retention.ms=123456",
        "--validate-only",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", b, "config", "describe", "--topic", topic, "--json"]);
    assert!(!stdout(&o).contains("123456"), "validate only changed it");
    let o = kfk(&[
        "-b",
        b,
        "config",
        "alter",
        "--topic",
        topic,
        "--set",
        "retention.ms=123456",
        "--set",
        "cleanup.policy=compact",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = config_becomes(b, topic, "retention.ms", "123456");
    assert_eq!(e["source"], "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(e["default"], false);
    config_becomes(b, topic, "cleanup.policy", "compact");
    let o = kfk(&[
        "-b",
        b,
        "config",
        "alter",
        "--topic",
        topic,
        "--delete",
        "cleanup.policy",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    config_becomes(b, topic, "cleanup.policy", "delete");
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "config",
            "alter",
            "--topic",
            topic,
            "--set",
            "retention.ms=soon",
        ]),
        "INVALID_CONFIG",
    );
    assert_one_line_failure(
        &kfk(&["-b", b, "config", "describe", "--topic", "no-such-topic"]),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );

    // A broker's configs, from that broker.
    let o = kfk(&["-b", b, "cluster", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ids: Vec<i64> = c["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), brokers, "{c}");
    assert!(ids.contains(&c["controller"].as_i64().unwrap()), "{c}");
    assert!(!c["cluster_id"].as_str().unwrap().is_empty());
    assert!(c["features"]["supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "transaction.version"));
    for id in &ids {
        let id = id.to_string();
        let o = kfk(&["-b", b, "config", "describe", "--broker", &id, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert!(v.as_object().is_some_and(|m| !m.is_empty()), "{v}");
        for e in v.as_object().unwrap().values() {
            if e["sensitive"] == true {
                assert!(e["value"].is_null(), "{e}");
            }
        }
    }
    let o = kfk(&["-b", b, "config", "describe", "--broker-defaults", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.is_object(), "{v}");
    // The same resource named positionally.
    let o = kfk(&["-b", b, "config", "describe", "broker-defaults", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap(),
        v
    );
    let o = kfk(&["-b", b, "cluster"]);
    let text = stdout(&o);
    assert!(text.starts_with("cluster id: "), "{text}");
    assert!(
        text.contains("controller: ") && text.contains("features:"),
        "{text}"
    );

    // Partitions.
    let o = kfk(&[
        "-b",
        b,
        "topic",
        "add-partitions",
        topic,
        "--partitions",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", b, "metadata", "-t", topic, "--json"]);
    let md: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(md["topics"][0]["partitions"].as_array().unwrap().len(), 4);
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "topic",
            "add-partitions",
            topic,
            "--partitions",
            "3",
        ]),
        "INVALID_PARTITIONS",
    );

    // Records.
    let o = kfk_stdin(
        &["-b", b, "produce", "-t", topic, "-p", "1"],
        "a\nb\nc\nd\ne\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&[
        "-b",
        b,
        "delete-records",
        "-t",
        topic,
        "-p",
        "1",
        "--before",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        rows(&stdout(&o)),
        [["TOPIC", "PARTITION", "LOW-WATERMARK"], [topic, "1", "3"]]
    );
    let o = kfk(&["-b", b, "offsets", "-t", topic]);
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "3", "5"]),
        "{}",
        stdout(&o)
    );
    let o = kfk(&[
        "-b",
        b,
        "delete-records",
        "-t",
        topic,
        "-p",
        "1",
        "--before",
        "end",
    ]);
    assert_eq!(
        rows(&stdout(&o)),
        [["TOPIC", "PARTITION", "LOW-WATERMARK"], [topic, "1", "5"]],
        "{}",
        stderr(&o)
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "delete-records",
            "-t",
            topic,
            "-p",
            "1",
            "--before",
            "99",
        ]),
        "OFFSET_OUT_OF_RANGE",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "delete-records",
            "-t",
            topic,
            "-p",
            "9",
            "--before",
            "1",
        ]),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );

    // Caller mistakes, before any broker is asked.
    assert_one_line_failure(
        &kfk(&["-b", b, "config", "alter", "--topic", topic]),
        "nothing to change",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b", b, "config", "alter", "--topic", topic, "--set", "novalue",
        ]),
        "KEY=VALUE",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b", b, "config", "describe", "--topic", topic, "--broker", "1",
        ]),
        "--broker",
    );
    assert_one_line_failure(&kfk(&["-b", b, "config", "describe"]), "--topic");
    assert_one_line_failure(
        &kfk(&["-b", b, "config", "describe", "--broker", "-1"]),
        "negative",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "delete-records",
            "-t",
            topic,
            "-p",
            "1",
            "--before",
            "x",
        ]),
        "--before",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            b,
            "topic",
            "add-partitions",
            topic,
            "--partitions",
            "0",
        ]),
        "at least 1",
    );
    let o = kfk(&["-b", b, "topic", "delete", topic]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The mock has no authorizer: `kfk acl`, `user` and `quota` say the API
/// is not served, in one line and at once; flag mistakes never reach a
/// broker.
#[test]
fn acl_user_and_quota_on_the_mock_are_unsupported_in_one_line() {
    let mock = MockCluster::builder().build().unwrap();
    let b = mock.bootstrap();
    let started = std::time::Instant::now();
    assert_one_line_failure(&kfk(&["-b", &b, "acl", "list"]), "DescribeAcls");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_one_line_failure(
        &kfk(&["-b", &b, "acl", "add", "--resource-type", "topic"]),
        "--resource-name",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "acl",
            "add",
            "--resource-type",
            "topic",
            "--resource-name",
            "t",
            "--principal",
            "User:a",
            "--operation",
            "read",
            "--pattern",
            "match",
        ]),
        "LITERAL or PREFIXED",
    );
    assert_one_line_failure(
        &kfk(&["-b", &b, "user", "list"]),
        "DescribeUserScramCredentials",
    );
    let o = kfk(&[
        "-b",
        &b,
        "user",
        "set-scram",
        "--user",
        "u",
        "--iterations",
        "10",
        "--password",
        "hunter2",
    ]);
    assert_one_line_failure(&o, "4096 to 16384");
    assert!(!stderr(&o).contains("hunter2"));
    assert_one_line_failure(&kfk(&["-b", &b, "quota", "list"]), "DescribeClientQuotas");
    assert_one_line_failure(
        &kfk(&["-b", &b, "quota", "set", "--set", "producer_byte_rate=1"]),
        "--user",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "quota",
            "set",
            "--user",
            "u",
            "--set",
            "producer_byte_rate=-5",
        ]),
        "positive",
    );
}

/// Parses stdout as one JSON value, failing the test with stderr when the
/// command failed or printed something else.
fn json_out(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// A refused change with --json: one stderr line naming the error, and
/// the JSON on stdout naming it too.
fn refused_json(o: &Output, error: &str) -> serde_json::Value {
    assert_one_line_failure(o, error);
    let v: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
    assert_eq!(v[0]["error"], error, "{v}");
    v
}

/// Every command that changes the cluster prints, with --json, one JSON
/// value on stdout (progress and notes stay on stderr): produce a
/// summary, the others their items, each with the Kafka error's name or
/// null; a refusal still fails in one line.
#[test]
fn changes_print_json_on_the_mock() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    let b = mock.bootstrap();
    let run = |args: &[&str]| kfk_at(&b, args);
    assert!(run(&["topic", "create", "j", "--partitions", "2"])
        .status
        .success());

    let v = json_out(&kfk_stdin(
        &[
            "-b", &b, "produce", "-t", "j", "-p", "1", "-K", ":", "--json",
        ],
        "k1:abc\nk2:de\n",
    ));
    assert_eq!(v["topic"], "j", "{v}");
    assert_eq!(v["records"], 2, "{v}");
    assert_eq!(v["bytes"], 9, "{v}");
    assert_eq!(
        v["partitions"],
        serde_json::json!([{"partition": 1, "records": 2, "first_offset": 0, "last_offset": 1}])
    );
    assert_eq!(v["errors"], serde_json::json!([]));
    // A record that cannot be written stops the run: the summary says
    // which line, and the failure is one line.
    let o = kfk_stdin(
        &["-b", &b, "produce", "-t", "j", "-p", "7", "--json"],
        "x\n",
    );
    assert_one_line_failure(&o, "partition 7 does not exist");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["records"], 0, "{v}");
    assert_eq!(v["errors"][0]["line"], 1, "{v}");

    // copy --json: what it copied, once at the end.
    ok(run(&["topic", "create", "j-copy", "--partitions", "2"]));
    let v = json_out(&run(&[
        "copy", "--from", "j", "--to", "j-copy", "-G", "jc", "-e", "--json",
    ]));
    assert_eq!(
        v,
        serde_json::json!({"from": "j", "to": "j-copy", "group": "jc", "records": 2})
    );

    // consume --json is -f json.
    let o = run(&["consume", "-t", "j", "-p", "1", "-e", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: Vec<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].to_string())
        .collect();
    assert_eq!(keys, ["\"k1\"", "\"k2\""]);

    let v = json_out(&run(&[
        "records", "delete", "j", "-p", "1", "--before", "1", "--json",
    ]));
    assert_eq!(
        v,
        serde_json::json!([{"topic": "j", "partition": 1, "before": 1, "low_watermark": 1,
            "error": null, "message": null}])
    );
    let v = refused_json(
        &run(&[
            "delete-records",
            "-t",
            "j",
            "-p",
            "1",
            "--before",
            "9",
            "--json",
        ]),
        "OFFSET_OUT_OF_RANGE",
    );
    assert!(v[0]["low_watermark"].is_null(), "{v}");

    let v = json_out(&run(&["partitions", "add", "j", "--total", "3", "--json"]));
    assert_eq!(v[0]["partitions"], 3, "{v}");
    assert!(v[0]["error"].is_null(), "{v}");
    refused_json(
        &run(&[
            "topic",
            "add-partitions",
            "j",
            "--partitions",
            "2",
            "--json",
        ]),
        "INVALID_PARTITIONS",
    );

    let v = json_out(&run(&[
        "config",
        "alter",
        "topic",
        "j",
        "--set",
        "retention.ms=1000",
        "--json",
    ]));
    assert_eq!(
        v,
        serde_json::json!([{"resource": "topic j", "validate_only": false,
            "error": null, "message": null}])
    );
    refused_json(
        &run(&[
            "config",
            "alter",
            "topic",
            "j",
            "--set",
            "no.such=1",
            "--json",
        ]),
        "INVALID_CONFIG",
    );

    let v = json_out(&run(&[
        "group",
        "reset-offsets",
        "g",
        "-t",
        "j",
        "--to",
        "latest",
        "--json",
    ]));
    assert_eq!(v["executed"], false, "{v}");
    let offsets: Vec<(i64, i64)> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap(),
                p["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(offsets, [(0, 0), (1, 2), (2, 0)], "{v}");
    let v = json_out(&run(&[
        "group",
        "reset-offsets",
        "g",
        "-t",
        "j",
        "--to",
        "latest",
        "--execute",
        "--json",
    ]));
    assert_eq!(v["executed"], true, "{v}");
    assert!(
        v["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["error"].is_null()),
        "{v}"
    );
    let text = stdout(&run(&[
        "group",
        "reset-offsets",
        "g",
        "-t",
        "j",
        "--to",
        "0",
        "--execute",
    ]));
    assert_eq!(
        rows(&text)[0],
        ["TOPIC", "PARTITION", "NEW-OFFSET", "RESULT"]
    );
    assert!(rows(&text)[1..].iter().all(|r| r[3] == "OK"), "{text}");
    let v = json_out(&run(&["group", "delete", "g", "--json"]));
    assert_eq!(
        v,
        serde_json::json!([{"group": "g", "error": null, "message": null}])
    );
    refused_json(
        &run(&["group", "delete", "g", "--json"]),
        "GROUP_ID_NOT_FOUND",
    );

    // An API the mock does not serve: one line naming it and
    // UNSUPPORTED_VERSION, and no JSON (nothing reached an item).
    for (args, api) in [
        (
            vec![
                "acl",
                "add",
                "--resource-type",
                "topic",
                "--resource-name",
                "j",
                "--principal",
                "User:a",
                "--operation",
                "read",
                "--json",
            ],
            "CreateAcls",
        ),
        (
            vec![
                "user",
                "set-scram",
                "--user",
                "u",
                "--password",
                "p",
                "--json",
            ],
            "AlterUserScramCredentials",
        ),
        (
            vec![
                "user",
                "delete-scram",
                "--user",
                "u",
                "--mechanism",
                "SCRAM-SHA-256",
                "--json",
            ],
            "AlterUserScramCredentials",
        ),
        (
            vec!["quota", "set", "--user", "u", "--remove", "x", "--json"],
            "AlterClientQuotas",
        ),
    ] {
        let o = run(&args);
        assert_one_line_failure(&o, "kfk: UNSUPPORTED_VERSION: broker ");
        assert!(
            stderr(&o).contains(&format!("supports no version of {api}")),
            "{}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "");
    }
}

/// `kfk mock --json` prints its bootstrap as JSON, for scripts.
#[test]
fn mock_prints_its_bootstrap_as_json() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kfk"))
        .args(["mock", "--port", "0", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kfk runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let b = v["bootstrap"].as_str().unwrap().to_string();
    let o = kfk(&["-b", &b, "cluster", "--json"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(json_out(&o)["brokers"].is_array());
}

/// `group describe --share` asks ShareGroupDescribe, which the mock does
/// not serve: one line naming the API and UNSUPPORTED_VERSION.
#[test]
fn share_group_describe_on_the_mock_is_unsupported_in_one_line() {
    let mock = MockCluster::builder().build().unwrap();
    let b = mock.bootstrap();
    for json in [false, true] {
        let mut args = vec!["-b", b.as_str(), "group", "describe", "s", "--share"];
        if json {
            args.push("--json");
        }
        let o = kfk(&args);
        assert_one_line_failure(&o, "UNSUPPORTED_VERSION");
        assert!(stderr(&o).contains("ShareGroupDescribe"), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
}

/// A share group on Kafka (joined by one raw ShareGroupHeartbeat at its
/// coordinator: kfk has no share consumer): `group describe --share`
/// shows it as a table and as JSON, and `group describe` without
/// --share finds it is one.
#[test]
fn share_group_describe_on_kafka() {
    use kafka_proto::messages::{FindCoordinatorRequest, ShareGroupHeartbeatRequest};
    use kafka_proto::ResponseBody;
    use kafka_testkit::kafka::{request_once, Listener};
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let b = kafka.bootstrap();
    let topic = format!("shared-{}", std::process::id());
    let group = format!("kfk-share-{}", std::process::id());
    ok(kfk_at(&b, &["topic", "create", &topic]));
    let any = kafka.addr(kafka.node_ids()[0], Listener::Plaintext);
    let member = "a2ZrLXNoYXJlLW1lbWJlcg";
    // A fresh cluster has no coordinator until its offsets topic is up,
    // and the one named may not have loaded the group yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let find = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![group.clone()]);
        let ResponseBody::FindCoordinator(found) = request_once(any, find.into(), 6).unwrap()
        else {
            panic!("not a FindCoordinator response")
        };
        let c = &found.coordinators[0];
        if c.error_code == 0 && c.node_id >= 0 {
            let at = kafka.addr(c.node_id, Listener::Plaintext);
            let join = ShareGroupHeartbeatRequest::default()
                .with_group_id(group.clone())
                .with_member_id(member.into())
                .with_member_epoch(0)
                .with_subscribed_topic_names(Some(vec![topic.clone()]));
            let ResponseBody::ShareGroupHeartbeat(joined) =
                request_once(at, join.into(), 1).unwrap()
            else {
                panic!("not a ShareGroupHeartbeat response")
            };
            if joined.error_code == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{joined:?}");
        }
        assert!(std::time::Instant::now() < deadline, "{found:?}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    let v = json_out(&kfk(&[
        "-b", &b, "group", "describe", &group, "--share", "--json",
    ]));
    assert_eq!(v["group"], group.as_str(), "{v}");
    assert_eq!(v["protocol"], "share", "{v}");
    assert_eq!(v["members"][0]["member_id"], member, "{v}");
    assert_eq!(v["offsets"], serde_json::json!([]), "{v}");
    for args in [vec!["--share"], vec![]] {
        let mut all = vec!["-b", b.as_str(), "group", "describe", group.as_str()];
        all.extend(args);
        let o = kfk(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        let lines = rows(&text);
        assert_eq!(lines[0][..2], ["group", group.as_str()], "{text}");
        assert_eq!(
            lines[1],
            ["CLIENT-ID", "HOST", "ASSIGNMENT", "MEMBER-ID"],
            "{text}"
        );
        assert_eq!(lines[2].last(), Some(&member), "{text}");
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
    }
}

/// `kfk acl add|list|remove`, `kfk user set-scram|list|delete-scram` and
/// `kfk quota set|list` as a super user of a cluster with an authorizer;
/// the user added logs in with kfk.
#[test]
fn acl_user_and_quota_on_kafka() {
    let Some(kafka) = KafkaCluster::builder()
        .brokers(1)
        .scram_user("admin", "admin-secret")
        .authorizer(&["User:admin"])
        .start()
    else {
        return;
    };
    let b = kafka.bootstrap_for(kafka_testkit::Listener::Sasl);
    // kfk as the super user.
    let as_admin = |args: &[&str]| {
        let mut all = vec![
            "-b",
            &b,
            "--sasl-mechanism",
            "SCRAM-SHA-256",
            "--sasl-username",
            "admin",
            "--sasl-password",
            "admin-secret",
        ];
        all.extend_from_slice(args);
        kfk(&all)
    };
    let run = |args: &[&str]| {
        let o = as_admin(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o)
    };
    let acl = [
        "--resource-type",
        "topic",
        "--resource-name",
        "orders",
        "--pattern",
        "prefixed",
        "--principal",
        "User:bob",
        "--operation",
        "write",
    ];
    let mut add = vec!["acl", "add", "--json"];
    add.extend_from_slice(&acl);
    let added: serde_json::Value = serde_json::from_str(&run(&add)).unwrap();
    assert_eq!(added[0]["principal"], "User:bob", "{added}");
    assert_eq!(added[0]["pattern_type"], "PREFIXED", "{added}");
    assert_eq!(added[0]["operation"], "WRITE", "{added}");
    assert!(added[0]["error"].is_null(), "{added}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let listed = run(&["acl", "list", "--principal", "User:bob", "--json"]);
        if listed.contains("\"PREFIXED\"") {
            assert!(listed.contains("\"WRITE\""), "{listed}");
            assert!(listed.contains("\"orders\""), "{listed}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut remove = vec!["acl", "remove", "--json"];
    remove.extend_from_slice(&acl);
    let removed = run(&remove);
    assert!(removed.contains("\"User:bob\""), "{removed}");

    let set: serde_json::Value = serde_json::from_str(&run(&[
        "user",
        "set-scram",
        "--user",
        "erin",
        "--mechanism",
        "SCRAM-SHA-512",
        "--iterations",
        "4096",
        "--password",
        "erin-secret",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        set,
        serde_json::json!([{"user": "erin", "mechanism": "SCRAM-SHA-512", "iterations": 4096,
            "change": "set", "error": null, "message": null}])
    );
    assert!(!set.to_string().contains("erin-secret"));
    let listed = run(&["user", "list", "--user", "erin", "--json"]);
    assert!(listed.contains("\"SCRAM-SHA-512\""), "{listed}");
    assert!(listed.contains("4096"), "{listed}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let o = kfk(&[
            "-b",
            &b,
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "erin",
            "--sasl-password",
            "erin-secret",
            "metadata",
        ]);
        if o.status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", stderr(&o));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let deleted: serde_json::Value = serde_json::from_str(&run(&[
        "user",
        "delete-scram",
        "--user",
        "erin",
        "--mechanism",
        "SCRAM-SHA-512",
        "--json",
    ]))
    .unwrap();
    assert_eq!(deleted[0]["change"], "delete", "{deleted}");
    assert!(deleted[0]["error"].is_null(), "{deleted}");
    assert_one_line_failure(
        &as_admin(&["user", "list", "--user", "erin"]),
        "RESOURCE_NOT_FOUND",
    );
    // Deleting it again: the JSON names the error, the line too.
    let o = as_admin(&[
        "user",
        "delete-scram",
        "--user",
        "erin",
        "--mechanism",
        "SCRAM-SHA-512",
        "--json",
    ]);
    let again = refused_json(&o, "RESOURCE_NOT_FOUND");
    assert_eq!(again[0]["user"], "erin", "{again}");

    let quota = |args: &[&str]| {
        let mut all = vec!["quota"];
        all.extend_from_slice(args);
        run(&all)
    };
    let set: serde_json::Value = serde_json::from_str(&quota(&[
        "set",
        "--user",
        "erin",
        "--client-id",
        "<default>",
        "--set",
        "consumer_byte_rate=2048",
        "--json",
    ]))
    .unwrap();
    assert_eq!(set[0]["entity"]["user"], "erin", "{set}");
    assert!(set[0]["entity"]["client-id"].is_null(), "{set}");
    assert!(set[0]["error"].is_null(), "{set}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let listed = quota(&["list", "--user", "erin", "--json"]);
        if listed.contains("consumer_byte_rate") {
            assert!(listed.contains("2048"), "{listed}");
            assert!(listed.contains("\"client-id\":null"), "{listed}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let text = quota(&["list", "--user", "erin"]);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "client-id=<default>,user=erin",
                    "consumer_byte_rate",
                    "2048"
                ]),
        "{text}"
    );
}

/// `--stats-interval` prints JSON snapshots on stderr, the last one with
/// the final counts; records stay alone on stdout.
#[test]
fn stats_interval_prints_json_snapshots_to_stderr() {
    let mock = MockCluster::builder().brokers(1).build().unwrap();
    let b = mock.bootstrap();
    assert!(
        kfk(&["-b", &b, "topic", "create", "st", "--partitions", "2"])
            .status
            .success()
    );
    let input: String = (0..30).map(|i| format!("value {i}\n")).collect();
    let o = kfk_stdin(
        &["-b", &b, "produce", "-t", "st", "--stats-interval", "20"],
        &input,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let snapshots: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let last = snapshots.last().expect("at least the final snapshot");
    assert_eq!(last["totals"]["records_delivered"], 30, "{last}");
    assert!(last["totals"]["bytes_sent"].as_u64().unwrap() > 0);
    let brokers = last["brokers"].as_array().unwrap();
    assert!(brokers.iter().any(|b| b["role"] == "producer"), "{last}");
    assert!(last["client_id"].is_string());

    let o = kfk(&[
        "-b",
        &b,
        "consume",
        "-t",
        "st",
        "-e",
        "-X",
        "statistics.interval.ms=20",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 30, "records only on stdout");
    let last: serde_json::Value = stderr(&o)
        .lines()
        .rfind(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("a snapshot");
    let consumed: Vec<&serde_json::Value> = last["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("consumer").filter(|c| !c.is_null()))
        .collect();
    assert_eq!(consumed.len(), 2, "{last}");
    let positions: i64 = consumed
        .iter()
        .map(|c| c["position"].as_i64().unwrap())
        .sum();
    assert_eq!(positions, 30, "{last}");
    assert!(consumed.iter().all(|c| c["lag"] == 0), "{last}");

    let o = kfk(&["-b", &b, "produce", "-t", "st", "--stats-interval", "0"]);
    assert_one_line_failure(&o, "--stats-interval");
}

/// The commands about replicas, producers, transactions and features on
/// the mock: moves complete at once and elections follow them; producers
/// and transactions come from the mock's own state; UpdateFeatures is not
/// served and fails at once in one line naming the API; mistakes fail
/// before anything is sent; group delete-offsets, cluster features and
/// the new offset specs work.
#[test]
fn replica_txn_and_feature_commands_on_the_mock() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    let b = mock.bootstrap();
    ok(kfk(&[
        "-b",
        &b,
        "topic",
        "create",
        "ops",
        "--partitions",
        "2",
    ]));
    let started = std::time::Instant::now();
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "cluster",
            "features",
            "--upgrade",
            "transaction.version=2",
        ]),
        "UpdateFeatures",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Broker ids of the mock start at 0.
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "partitions",
        "reassign",
        "ops",
        "-p",
        "0",
        "--replicas",
        "1,0",
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"topic": "ops", "partition": 0, "error": null, "message": null}])
    );
    assert_eq!(
        ok(kfk(&["-b", &b, "partitions", "reassignments", "--json"])),
        "[]\n"
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "partitions",
            "reassign",
            "ops",
            "-p",
            "0",
            "--replicas",
            "0,7",
        ]),
        "ops-0: INVALID_REPLICA_ASSIGNMENT",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "partitions",
            "reassign",
            "ops",
            "-p",
            "0",
            "--cancel",
        ]),
        "ops-0: NO_REASSIGNMENT_IN_PROGRESS",
    );
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "partitions",
        "elect",
        "ops",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let text = ok(kfk(&["-b", &b, "partitions", "elect", "ops:0"]));
    assert!(text.contains("ELECTION_NOT_NEEDED"), "{text}");
    let text = ok(kfk(&["-b", &b, "logdirs", "describe", "-t", "ops"]));
    assert!(text.starts_with("BROKER"), "{text}");
    assert!(text.contains("/mock/broker-1"), "{text}");
    ok(kfk_stdin(
        &["-b", &b, "produce", "-t", "ops", "-p", "1", "--idempotent"],
        "a\n",
    ));
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "producers",
        "describe",
        "ops",
        "-p",
        "1",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v[0]["producers"].as_array().unwrap().len(), 1, "{v}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "txn", "list", "--json"]))).unwrap();
    assert_eq!(v["transactions"], serde_json::json!([]), "{v}");
    assert_one_line_failure(
        &kfk(&["-b", &b, "txn", "describe", "x"]),
        "TRANSACTIONAL_ID_NOT_FOUND",
    );

    // Mistakes, each named.
    for (args, says) in [
        (vec!["partitions", "elect", "ops:-1"], "negative partition"),
        (vec!["partitions", "elect", "ops:x"], "not a partition"),
        (vec!["partitions", "elect", "a b:0"], "invalid topic name"),
        (
            vec![
                "partitions",
                "reassign",
                "ops",
                "-p",
                "0",
                "--replicas",
                "1,-2",
            ],
            "broker id is negative",
        ),
        (
            vec![
                "partitions",
                "reassign",
                "ops",
                "-p",
                "0",
                "--replicas",
                "1,x",
            ],
            "not a broker id",
        ),
        (
            vec![
                "partitions",
                "reassign",
                "ops",
                "-p",
                "-1",
                "--replicas",
                "1",
            ],
            "negative partition",
        ),
        (
            vec!["producers", "describe", "ops", "-p", "-4"],
            "negative partition",
        ),
        (vec!["producers", "describe", "no-such"], "no-such"),
        (
            vec!["cluster", "features", "--upgrade", "x=-1"],
            "negative level",
        ),
        (
            vec!["offsets", "-t", "ops", "--spec", "soon"],
            "--spec soon",
        ),
        (
            vec!["group", "delete-offsets", "g", "ops:-3"],
            "negative partition",
        ),
    ] {
        assert_one_line_failure(&kfk_at(&b, &args), says);
    }

    // Features from ApiVersions, as a table and as JSON.
    let text = ok(kfk(&["-b", &b, "cluster", "features"]));
    assert!(text.starts_with("FEATURE"), "{text}");
    assert!(text.lines().all(|l| l.len() <= 80), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "cluster", "features", "--json"]))).unwrap();
    assert!(v["supported"].is_array(), "{v}");

    // Offsets by the new specs.
    ok(kfk_stdin(
        &["-b", &b, "produce", "-t", "ops", "-p", "0"],
        "a\nb\n",
    ));
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "offsets",
        "-t",
        "ops",
        "--spec",
        "earliest-local",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v[0]["offset"], 0, "{v}");
    let text = ok(kfk(&[
        "-b",
        &b,
        "offsets",
        "-t",
        "ops",
        "--spec",
        "max-timestamp",
    ]));
    assert!(text.starts_with("PARTITION"), "{text}");

    // Committed offsets, deleted.
    ok(kfk(&[
        "-b",
        &b,
        "group",
        "reset-offsets",
        "g",
        "-t",
        "ops",
        "--to",
        "earliest",
        "--execute",
    ]));
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "group",
        "delete-offsets",
        "g",
        "ops",
        "--json",
    ])))
    .unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert!(
        v.as_array().unwrap().iter().all(|p| p["error"].is_null()),
        "{v}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "group", "describe", "g", "--json"]))).unwrap();
    assert!(v["offsets"].as_array().is_none_or(|a| a.is_empty()), "{v}");
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b", &b, "group", "list", "--type", "share", "--json",
    ])))
    .unwrap();
    assert_eq!(v, serde_json::json!([]));
}

/// The same commands on Kafka: a partition moved and its preferred leader
/// elected with kfk, the move listed, log dirs, an idempotent producer
/// described, transactions listed, features updated validate-only.
#[test]
fn replica_txn_and_feature_commands_on_kafka() {
    let Some(kafka) = KafkaCluster::shared() else {
        return;
    };
    let b = kafka.bootstrap();
    let topic = format!("moves-{}", std::process::id());
    ok(kfk(&[
        "-b",
        &b,
        "topic",
        "create",
        &topic,
        "--replication-factor",
        "2",
    ]));
    let md: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "metadata", "-t", &topic, "--json"]))).unwrap();
    let replicas: Vec<i64> = md["topics"][0]["partitions"][0]["replicas"]
        .as_array()
        .unwrap_or_else(|| panic!("{md}"))
        .iter()
        .map(|r| r.as_i64().unwrap())
        .collect();
    let newcomer = kafka
        .node_ids()
        .into_iter()
        .map(i64::from)
        .find(|n| !replicas.contains(n))
        .unwrap();
    let target = format!("{newcomer},{}", replicas[0]);
    // A broker that does not exist: the controller's error, one line.
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "partitions",
            "reassign",
            &topic,
            "-p",
            "0",
            "--replicas",
            "1,99",
        ]),
        &format!("{topic}-0: INVALID_REPLICA_ASSIGNMENT"),
    );
    ok(kfk(&[
        "-b",
        &b,
        "partitions",
        "reassign",
        &topic,
        "-p",
        "0",
        "--replicas",
        &target,
    ]));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
            "-b",
            &b,
            "partitions",
            "reassignments",
            "--json",
        ])))
        .unwrap();
        if v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["topic"] != topic.as_str())
        {
            break;
        }
        assert!(std::time::Instant::now() < until, "still moving: {v}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let text = ok(kfk(&["-b", &b, "partitions", "reassignments"]));
    assert!(text.starts_with("TOPIC"), "{text}");
    // The preferred leader (the newcomer) leads once elected.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
            "-b",
            &b,
            "partitions",
            "elect",
            &format!("{topic}:0"),
            "--json",
        ])))
        .unwrap();
        let md: serde_json::Value =
            serde_json::from_str(&ok(kfk(&["-b", &b, "metadata", "-t", &topic, "--json"])))
                .unwrap();
        if md["topics"][0]["partitions"][0]["leader"] == newcomer {
            assert!(
                v[0]["error"].is_null() || v[0]["error"] == "ELECTION_NOT_NEEDED",
                "{v}"
            );
            break;
        }
        assert!(std::time::Instant::now() < until, "{v} {md}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b", &b, "logdirs", "describe", "-t", &topic, "--json",
    ])))
    .unwrap();
    let holders: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["dirs"].as_array().unwrap().iter().any(|d| {
                d["replicas"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["topic"] == topic.as_str())
            })
        })
        .map(|b| b["broker"].as_i64().unwrap())
        .collect();
    let mut want = vec![newcomer, replicas[0]];
    want.sort();
    assert_eq!(holders, want, "{v}");
    let text = ok(kfk(&["-b", &b, "logdirs", "describe", "-t", &topic]));
    assert!(
        text.lines().all(|l| l.len() <= 80 || l.contains('/')),
        "{text}"
    );

    ok(kfk_stdin(
        &["-b", &b, "produce", "-t", &topic, "--idempotent"],
        "x\ny\n",
    ));
    let v: serde_json::Value = serde_json::from_str(&ok(kfk(&[
        "-b",
        &b,
        "producers",
        "describe",
        &topic,
        "-p",
        "0",
        "--json",
    ])))
    .unwrap();
    let producers = v[0]["producers"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(producers.len(), 1, "{v}");
    assert_eq!(producers[0]["last_sequence"], 1, "{v}");
    let text = ok(kfk(&["-b", &b, "producers", "describe", &topic]));
    assert!(text.starts_with("PARTITION"), "{text}");

    let v: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "txn", "list", "--json"]))).unwrap();
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v}");
    assert_one_line_failure(
        &kfk(&["-b", &b, "txn", "describe", "no-such-txn"]),
        "TRANSACTIONAL_ID_NOT_FOUND",
    );

    let v: serde_json::Value =
        serde_json::from_str(&ok(kfk(&["-b", &b, "cluster", "features", "--json"]))).unwrap();
    let level = v["finalized"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "transaction.version")
        .unwrap_or_else(|| panic!("{v}"))["max"]
        .as_i64()
        .unwrap();
    let o = kfk(&[
        "-b",
        &b,
        "cluster",
        "features",
        "--upgrade",
        &format!("transaction.version={level}"),
        "--validate-only",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("checked, not applied"),
        "{}",
        stderr(&o)
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "cluster",
            "features",
            "--upgrade",
            "no.such.feature=1",
            "--validate-only",
        ]),
        "feature no.such.feature: ",
    );
}

/// The command forms named by group: `partitions add`, `records delete`
/// and `cluster describe` do what `topic add-partitions`, `delete-records`
/// and `cluster` do.
#[test]
fn grouped_forms_of_partitions_records_and_cluster_on_the_mock() {
    let mock = MockCluster::builder().brokers(2).build().unwrap();
    let b = mock.bootstrap();
    assert!(
        kfk(&["-b", &b, "topic", "create", "g", "--partitions", "1"])
            .status
            .success()
    );
    let o = kfk(&["-b", &b, "partitions", "add", "g", "--total", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("g has 3 partitions"), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "partitions", "add", "g", "--total", "-1"]);
    assert_one_line_failure(&o, "--total -1");

    let input: String = (0..5).map(|i| format!("v{i}\n")).collect();
    let o = kfk_stdin(&["-b", &b, "produce", "-t", "g", "-p", "0"], &input);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&[
        "-b", &b, "records", "delete", "g", "-p", "0", "--before", "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&stdout(&o))[1], ["g", "0", "3"]);
    let o = kfk(&[
        "-b", &b, "records", "delete", "g", "-p", "-2", "--before", "1",
    ]);
    assert_one_line_failure(&o, "negative partition");

    let o = kfk(&["-b", &b, "cluster", "describe", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let described: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let o = kfk(&["-b", &b, "cluster", "--json"]);
    let plain: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(described["cluster_id"], plain["cluster_id"]);
    assert_eq!(described["brokers"].as_array().unwrap().len(), 2);

    // Topics listed and described, as text and JSON.
    let o = kfk(&["-b", &b, "topic", "list", "--json"]);
    let names: Vec<String> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(names.contains(&"g".to_string()), "{names:?}");
    let o = kfk(&["-b", &b, "topic", "describe", "g", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{t}");
    assert!(parts.iter().all(|p| p["leader"].is_i64()), "{t}");
    let o = kfk(&["-b", &b, "topic", "describe", "g"]);
    let text = stdout(&o);
    let header: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "OFFLINE",
            "ERROR"
        ]
    );
    assert_eq!(text.lines().count(), 5, "{text}");
    assert_one_line_failure(
        &kfk(&["-b", &b, "topic", "describe", "nope"]),
        "UNKNOWN_TOPIC_OR_PARTITION",
    );

    // Config resources named positionally; the JSON is keyed by name.
    let o = kfk(&[
        "-b",
        &b,
        "config",
        "alter",
        "topic",
        "g",
        "--set",
        "retention.ms=7000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "config", "describe", "topic", "g", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["retention.ms"]["value"], "7000", "{v}");
    assert_eq!(v["retention.ms"]["source"], "DYNAMIC_TOPIC_CONFIG", "{v}");
    assert_eq!(v["retention.ms"]["sensitive"], false);
    assert_eq!(v["retention.ms"]["read_only"], false);
    assert_one_line_failure(
        &kfk(&["-b", &b, "config", "describe", "shelf", "g"]),
        "unknown config resource shelf",
    );
    assert_one_line_failure(
        &kfk(&["-b", &b, "config", "describe", "broker", "x"]),
        "not a broker id",
    );
    assert_one_line_failure(
        &kfk(&["-b", &b, "config", "describe", "topic", "g", "--topic", "g"]),
        "give one of",
    );
}

/// `topic create` with a replica assignment, validate-only and JSON,
/// `topic delete --id`, and `topic describe` with offline replicas and
/// authorized operations, on the mock.
#[test]
fn topic_assignment_validation_delete_by_id_and_describe() {
    let mock = MockCluster::builder().brokers(3).build().unwrap();
    let b = mock.bootstrap();
    let o = kfk(&[
        "-b",
        &b,
        "topic",
        "create",
        "placed",
        "--replica-assignment",
        "2:1,1:0,0:2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let v = &v[0];
    assert_eq!(v["name"], "placed");
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["partitions"], 3);
    assert_eq!(v["replication_factor"], 2);
    let id = v["id"].as_str().unwrap().to_string();

    let o = kfk(&["-b", &b, "topic", "describe", "placed", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["partitions"][0]["replicas"], serde_json::json!([2, 1]));
    assert_eq!(t["partitions"][0]["leader"], 2);
    assert_eq!(t["partitions"][2]["replicas"], serde_json::json!([0, 2]));
    assert_eq!(
        t["partitions"][0]["offline_replicas"],
        serde_json::json!([])
    );
    let ops: Vec<String> = serde_json::from_value(t["authorized_operations"].clone()).unwrap();
    for op in ["READ", "WRITE", "DESCRIBE"] {
        assert!(ops.iter().any(|o| o == op), "{ops:?}");
    }

    // Validate only: answered, nothing created; text goes to stderr.
    let o = kfk(&[
        "-b",
        &b,
        "topic",
        "create",
        "maybe",
        "--partitions",
        "4",
        "--replication-factor",
        "2",
        "--validate-only",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let v = &v[0];
    assert_eq!(v["validate_only"], true);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["id"], serde_json::Value::Null);
    assert_eq!(v["partitions"], 4);
    let o = kfk(&["-b", &b, "topic", "create", "maybe", "--validate-only"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("valid: maybe"), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "topic", "list"]);
    assert!(!stdout(&o).lines().any(|l| l == "maybe"), "{}", stdout(&o));
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "topic",
            "create",
            "wide",
            "--replication-factor",
            "5",
            "--validate-only",
        ]),
        "INVALID_REPLICATION_FACTOR",
    );
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "topic",
            "create",
            "far",
            "--replica-assignment",
            "0:99",
        ]),
        "INVALID_REPLICA_ASSIGNMENT",
    );
    // Refused before sending.
    for (bad, says) in [
        ("1:x", "not a broker id"),
        ("1:1", "twice"),
        ("1:2,1", "different"),
        ("1,,2", "not a broker id"),
    ] {
        assert_one_line_failure(
            &kfk(&[
                "-b",
                &b,
                "topic",
                "create",
                "t",
                "--replica-assignment",
                bad,
            ]),
            says,
        );
    }
    assert_one_line_failure(
        &kfk(&[
            "-b",
            &b,
            "topic",
            "create",
            "t",
            "--replica-assignment",
            "1",
            "--partitions",
            "2",
        ]),
        "--replica-assignment",
    );

    // A stopped broker's replicas are offline, as a column and in JSON.
    mock.set_broker_up(1, false).unwrap();
    let o = kfk(&[
        "-b",
        &b,
        "topic",
        "describe",
        "placed",
        "--authorized-operations",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.lines().all(|l| l.len() <= 80), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("authorized operations: "),
        "{text}"
    );
    assert!(
        text.contains("WRITE") && text.contains("ALTER_CONFIGS"),
        "{text}"
    );
    let at = text
        .lines()
        .position(|l| l.starts_with("PARTITION"))
        .unwrap();
    let header: Vec<&str> = text.lines().nth(at).unwrap().split_whitespace().collect();
    let offline = header.iter().position(|h| *h == "OFFLINE").unwrap();
    let row0: Vec<&str> = text
        .lines()
        .nth(at + 1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row0[offline], "1", "{text}");
    let o = kfk(&["-b", &b, "topic", "describe", "placed", "--json"]);
    let t: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        t["partitions"][1]["offline_replicas"],
        serde_json::json!([1])
    );
    mock.set_broker_up(1, true).unwrap();

    // Delete by id, then the id is unknown.
    let o = kfk(&["-b", &b, "topic", "delete", "--id", &id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["name"], "placed");
    assert_eq!(v[0]["error"], serde_json::Value::Null);
    assert_one_line_failure(
        &kfk(&["-b", &b, "topic", "delete", "--id", &id]),
        "UNKNOWN_TOPIC_ID",
    );
    // Refused, the JSON names the error too.
    let o = kfk(&["-b", &b, "topic", "delete", "--id", &id, "--json"]);
    assert!(!o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["error"], "UNKNOWN_TOPIC_ID");
    assert_one_line_failure(
        &kfk(&["-b", &b, "topic", "delete", "--id", "zzz"]),
        "not a topic id",
    );
    let o = kfk(&["-b", &b, "topic", "create", "named", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = kfk(&["-b", &b, "topic", "delete", "named", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"name": "named", "error": null, "message": null}])
    );
}
