//! A consumer group member on the blocking client that reports what
//! happens to it, one JSON line per event on stdout, until its stdin
//! closes; then it commits what it read and leaves (a static member only
//! closes: it keeps its place for a restart within the session timeout).
//! The interop suite runs it beside librdkafka's and the Java client's
//! members in one group.
//!
//! ```text
//! group_member --bootstrap B --topic T --group G [--assignor NAME]
//!              [--instance-id ID] [--session-timeout-ms N]
//!              [--group-protocol classic|consumer]
//! ```
//!
//! Events (`ts` is the wall clock in milliseconds, so lines of several
//! processes can be put in one order):
//!
//! ```text
//! {"event":"assigned"|"revoked"|"lost","partitions":[0,1],"ts":N}
//! {"event":"generation","generation":N,"member_id":"..","ts":N}
//! {"event":"record","partition":N,"offset":N,"value":"..","ts":N}
//! {"event":"committed","offsets":{"0":N},"ts":N}
//! {"event":"fatal","error":"..","ts":N}     (then exit status 3)
//! ```
//!
//! The classic protocol (the default) assigns on the client: range (the
//! default), roundrobin, sticky or cooperative-sticky. The consumer
//! protocol (KIP-848) assigns on the broker: `--assignor` names its
//! assignor, uniform or range, and without it the broker chooses; the
//! session timeout and heartbeat interval are the broker's
//! (`group.consumer.*`), so `--session-timeout-ms` is refused.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_blocking::{
    AutoOffsetReset, Client, Config, Error, GroupConfig, GroupProtocol, RangeAssignor, Rebalance,
    RoundRobinAssignor, TopicPartition,
};
use kafka_state::group::{CooperativeStickyAssignor, StickyAssignor};

fn main() -> ExitCode {
    let mut bootstrap = None;
    let mut topic = None;
    let mut group_id = None;
    let mut assignor = None;
    let mut instance_id = None;
    let mut session_ms = None;
    let mut protocol = GroupProtocol::Classic;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else {
            return usage(&format!("{arg} needs a value"));
        };
        match arg.as_str() {
            "--bootstrap" => bootstrap = Some(value),
            "--topic" => topic = Some(value),
            "--group" => group_id = Some(value),
            "--assignor" => assignor = Some(value),
            "--instance-id" => instance_id = Some(value),
            "--session-timeout-ms" => match value.parse::<u64>() {
                Ok(ms) => session_ms = Some(ms),
                Err(_) => return usage(&format!("bad session timeout {value:?}")),
            },
            "--group-protocol" => match value.as_str() {
                "classic" => protocol = GroupProtocol::Classic,
                "consumer" => protocol = GroupProtocol::Consumer,
                other => return usage(&format!("unknown group protocol {other:?}")),
            },
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let (Some(bootstrap), Some(topic), Some(group_id)) = (bootstrap, topic, group_id) else {
        return usage("--bootstrap, --topic and --group are required");
    };

    let mut group = GroupConfig::new(group_id);
    group.group_protocol = protocol;
    match protocol {
        GroupProtocol::Consumer => {
            // The broker assigns and owns the session: the group config's
            // session timeout and heartbeat interval are not sent, they
            // only bound the wait for a heartbeat's answer (the defaults).
            if session_ms.is_some() {
                return usage(
                    "--session-timeout-ms is the broker's under the consumer protocol \
                     (group.consumer.session.timeout.ms)",
                );
            }
            group.remote_assignor = match assignor.as_deref() {
                None => None,
                Some(name @ ("uniform" | "range")) => Some(name.to_string()),
                Some(other) => {
                    return usage(&format!(
                        "{other:?} is not a broker-side assignor (uniform, range)"
                    ))
                }
            };
        }
        _ => {
            group = match assignor.as_deref().unwrap_or("range") {
                "range" => group.only_assignor(|| RangeAssignor),
                "roundrobin" => group.only_assignor(|| RoundRobinAssignor),
                "sticky" => group.only_assignor(StickyAssignor::default),
                "cooperative-sticky" => group.only_assignor(CooperativeStickyAssignor::default),
                other => return usage(&format!("unknown assignor {other:?}")),
            };
            let session_ms = session_ms.unwrap_or(10_000);
            group.session_timeout = Duration::from_millis(session_ms);
            group.heartbeat_interval = Duration::from_millis((session_ms / 10).max(100));
        }
    }
    group.group_instance_id = instance_id;
    group.auto_commit_interval = Duration::from_secs(1);
    let mut config = match Config::bootstrap(&bootstrap) {
        Ok(c) => c,
        Err(e) => return usage(&format!("bad bootstrap {bootstrap:?}: {e}")),
    };
    config.group = Some(group);
    config.consumer.auto_offset_reset = AutoOffsetReset::Earliest;

    match run(config, &topic) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            emit(&format!(
                "{{\"event\":\"fatal\",\"error\":{},\"ts\":{}}}",
                json_string(&e.to_string()),
                now_ms()
            ));
            ExitCode::from(3)
        }
    }
}

fn run(config: Config, topic: &str) -> Result<(), Error> {
    let client = Client::connect(config)?;
    let mut consumer = client.consumer()?;
    consumer.on_rebalance(|change| {
        let (kind, partitions) = match &change {
            Rebalance::Assigned(p) => ("assigned", p),
            Rebalance::Revoking(p) => ("revoking", p),
            Rebalance::Revoked(p) => ("revoked", p),
            Rebalance::Lost(p) => ("lost", p),
            other => {
                eprintln!("group_member: {other:?}");
                return;
            }
        };
        emit(&format!(
            "{{\"event\":\"{kind}\",\"partitions\":[{}],\"ts\":{}}}",
            numbers(partitions),
            now_ms()
        ));
    });
    consumer.subscribe([topic])?;

    // Only the end of input matters: it is the signal to stop.
    let done = Arc::new(AtomicBool::new(false));
    {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            done.store(true, Ordering::SeqCst);
        });
    }
    let mut generation = None;
    while !done.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            Ok(records) => {
                for r in records {
                    let value = r
                        .value
                        .as_deref()
                        .map(|v| json_string(&String::from_utf8_lossy(v)))
                        .unwrap_or_else(|| "null".to_string());
                    emit(&format!(
                        "{{\"event\":\"record\",\"partition\":{},\"offset\":{},\"value\":{value},\"ts\":{}}}",
                        r.partition,
                        r.offset,
                        now_ms()
                    ));
                }
            }
            // The member stopped for good (fenced, refused): report it.
            Err(e @ (Error::Group(_) | Error::Fatal(_) | Error::Closed)) => return Err(e),
            // A partition that cannot be fetched for now; the next
            // rebalance or a retry gets it going again.
            Err(e) => eprintln!("group_member: {e}"),
        }
        if let Some(m) = consumer.group_metadata()? {
            let now = (m.generation_id, m.member_id);
            // Generations (member epochs under KIP-848) start at 1: a 0 is
            // a member still joining, whose epoch the broker has not given.
            if m.generation_id > 0 && generation.as_ref() != Some(&now) {
                emit(&format!(
                    "{{\"event\":\"generation\",\"generation\":{},\"member_id\":{},\"ts\":{}}}",
                    now.0,
                    json_string(&now.1),
                    now_ms()
                ));
                generation = Some(now);
            }
        }
    }
    let committed = consumer.commit()?;
    let offsets: Vec<String> = committed
        .iter()
        .map(|(tp, o)| format!("\"{}\":{}", tp.partition, o.offset))
        .collect();
    emit(&format!(
        "{{\"event\":\"committed\",\"offsets\":{{{}}},\"ts\":{}}}",
        offsets.join(","),
        now_ms()
    ));
    drop(consumer);
    client.close();
    Ok(())
}

fn numbers(partitions: &[TopicPartition]) -> String {
    let mut p: Vec<i32> = partitions.iter().map(|tp| tp.partition).collect();
    p.sort_unstable();
    p.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// One line on stdout, flushed at once (the reader timestamps nothing
/// itself but waits for the lines).
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "group_member: {why}\nusage: group_member --bootstrap B --topic T --group G \
         [--assignor NAME] [--instance-id ID] [--session-timeout-ms N] \
         [--group-protocol classic|consumer]"
    );
    ExitCode::from(64)
}
