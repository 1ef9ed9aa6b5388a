//! The consumer-protocol bytes and the range and roundrobin assignments
//! against Apache Kafka's Java client (kafka-clients 4.4), on seeded
//! random cases: the same bytes for every subscription and assignment
//! version, Java reads what we write, and the same assignment for the
//! same group. Runs `tests/java/GroupCompat.java` once with every case.
//!
//! Needs Java and the Kafka jars (`scripts/install-kafka.sh`); skipped
//! without them unless `KAFKA_REQUIRE_KAFKA=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bytes::Bytes;
use kafka_state::group::protocol::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use kafka_state::group::{
    Assignment, Assignor, MemberSubscription, PartitionInfo, RangeAssignor, RoundRobinAssignor,
    Subscription, TopicInfo,
};
use kafka_state::TopicPartition;

/// SplitMix64: reproducible cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }
}

fn kafka_libs() -> Option<PathBuf> {
    let home = std::env::var_os("KAFKA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kafka"));
    let libs = home.join("libs");
    libs.is_dir().then_some(libs)
}

fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) => PathBuf::from(home).join("bin/java"),
        None => PathBuf::from("java"),
    }
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "=".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn opt_hex(b: &Option<Bytes>) -> String {
    b.as_ref().map_or("-".into(), |b| hex(b))
}

fn tps(list: &[TopicPartition]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(|tp| format!("{}:{};", tp.topic, tp.partition))
        .collect()
}

fn topic_name(rng: &mut Rng) -> String {
    ["orders", "a.b", "x_y", "t-1", "events", "z"][rng.below(6) as usize].to_string()
}

fn random_partitions(rng: &mut Rng) -> Vec<TopicPartition> {
    (0..rng.below(6))
        .map(|_| TopicPartition::new(topic_name(rng), rng.below(40) as i32))
        .collect()
}

fn random_bytes(rng: &mut Rng) -> Option<Bytes> {
    match rng.below(3) {
        0 => None,
        1 => Some(Bytes::new()),
        _ => Some(
            (0..1 + rng.below(12))
                .map(|_| rng.below(256) as u8)
                .collect(),
        ),
    }
}

/// What Java should read back from bytes of `version`: fields the version
/// lacks come back as their defaults.
fn expected_read(sub: &Subscription, version: i16) -> String {
    // Both are written sorted.
    let mut owned = if version >= 1 {
        sub.owned_partitions.clone()
    } else {
        Vec::new()
    };
    owned.sort();
    let mut topics = sub.topics.clone();
    topics.sort();
    format!(
        "{}|{}|{}|{}|{}",
        topics.join(","),
        opt_hex(&sub.user_data),
        tps(&owned),
        if version >= 2 { sub.generation_id } else { -1 },
        match (&sub.rack_id, version >= 3) {
            (Some(r), true) => r.clone(),
            _ => "-".into(),
        }
    )
}

fn normalized(out: &BTreeMap<String, Assignment>) -> String {
    out.iter()
        .map(|(m, a)| {
            let owned: BTreeSet<String> = a
                .partitions
                .iter()
                .map(|tp| format!("{}:{:05}", tp.topic, tp.partition))
                .collect();
            format!("{m}={};", owned.into_iter().collect::<Vec<_>>().join(","))
        })
        .collect()
}

#[test]
fn bytes_and_assignments_match_the_java_client() {
    let Some(libs) = kafka_libs() else {
        if std::env::var("KAFKA_REQUIRE_KAFKA").as_deref() == Ok("1") {
            panic!("no Kafka install (run scripts/install-kafka.sh)");
        }
        eprintln!("skipped: no Kafka install (run scripts/install-kafka.sh)");
        return;
    };
    let mut rng = Rng(0x6b61_666b_612d_7273);
    let mut input = String::new();
    // id -> what we expect Java to answer
    let mut expect: BTreeMap<String, String> = BTreeMap::new();

    for i in 0..120 {
        let version = rng.below(4) as i16;
        let sub = Subscription {
            topics: (0..1 + rng.below(4))
                .map(|_| topic_name(&mut rng))
                .collect(),
            user_data: random_bytes(&mut rng),
            owned_partitions: random_partitions(&mut rng),
            generation_id: rng.below(100) as i32 - 1,
            rack_id: rng.coin().then(|| format!("rack{}", rng.below(3))),
        };
        let ours = encode_subscription(&sub, version);
        input += &format!(
            "SUB s{i} {version} {} {} {} {} {}\n",
            sub.topics.join(","),
            opt_hex(&sub.user_data),
            tps(&sub.owned_partitions),
            sub.generation_id,
            sub.rack_id.as_deref().unwrap_or("-"),
        );
        expect.insert(format!("s{i}"), hex(&ours));
        input += &format!("DSUB r{i} {}\n", hex(&ours));
        expect.insert(format!("r{i}"), expected_read(&sub, version));
        // And we read our own bytes back the same way.
        let back = decode_subscription(&ours).unwrap();
        assert_eq!(back.topics.len(), sub.topics.len());
        assert_eq!(back.user_data, sub.user_data);
    }
    for i in 0..120 {
        let version = rng.below(4) as i16;
        let a = Assignment {
            partitions: random_partitions(&mut rng),
            user_data: random_bytes(&mut rng),
        };
        let ours = encode_assignment(&a, version);
        input += &format!(
            "ASG a{i} {version} {} {}\n",
            tps(&a.partitions),
            opt_hex(&a.user_data)
        );
        expect.insert(format!("a{i}"), hex(&ours));
        let back = decode_assignment(&ours).unwrap();
        input += &format!("DASG d{i} {}\n", hex(&ours));
        expect.insert(
            format!("d{i}"),
            format!("{}|{}", tps(&back.partitions), opt_hex(&back.user_data)),
        );
    }
    for i in 0..200 {
        let ntopics = 1 + rng.below(5) as usize;
        let topics: BTreeMap<String, TopicInfo> = (0..ntopics)
            .map(|t| {
                let n = 1 + rng.below(16) as i32;
                let info = TopicInfo {
                    partitions: (0..n)
                        .map(|partition| PartitionInfo {
                            partition,
                            racks: Vec::new(),
                        })
                        .collect(),
                };
                (format!("topic{t}"), info)
            })
            .collect();
        let names: Vec<String> = topics.keys().cloned().collect();
        let members: Vec<MemberSubscription> = (0..1 + rng.below(8))
            .map(|m| {
                let mut subscribed: Vec<String> =
                    names.iter().filter(|_| rng.coin()).cloned().collect();
                if subscribed.is_empty() {
                    subscribed.push(names[rng.below(names.len() as u64) as usize].clone());
                }
                MemberSubscription {
                    member_id: format!("member-{:02}-{}", rng.below(50), m),
                    instance_id: (rng.below(3) == 0)
                        .then(|| format!("inst-{}", rng.below(100) * 10 + m)),
                    subscription: Subscription {
                        topics: subscribed,
                        generation_id: -1,
                        ..Subscription::default()
                    },
                }
            })
            .collect();
        let (name, assignor): (&str, &dyn Assignor) = if i % 2 == 0 {
            ("range", &RangeAssignor)
        } else {
            ("roundrobin", &RoundRobinAssignor)
        };
        let out = assignor.assign(&topics, &members).unwrap();
        let topics_arg: String = topics
            .iter()
            .map(|(t, info)| format!("{t}={};", info.partitions.len()))
            .collect();
        let members_arg: String = members
            .iter()
            .map(|m| {
                format!(
                    "{}={}={};",
                    m.member_id,
                    m.instance_id.as_deref().unwrap_or("-"),
                    m.subscription.topics.join(",")
                )
            })
            .collect();
        input += &format!("ASSIGN g{i} {name} {topics_arg} {members_arg}\n");
        expect.insert(format!("g{i}"), normalized(&out));
    }

    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/GroupCompat.java");
    let mut child = Command::new(java())
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg(&source)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: BTreeMap<String, String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, a)| (id.to_string(), a.to_string()))
        .collect();
    assert_eq!(answers.len(), expect.len(), "one answer per case");
    let mut wrong = Vec::new();
    for (id, want) in &expect {
        if answers.get(id) != Some(want) {
            wrong.push(format!("{id}: java {:?}, ours {want:?}", answers.get(id)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        expect.len(),
        wrong.join("\n")
    );
}
