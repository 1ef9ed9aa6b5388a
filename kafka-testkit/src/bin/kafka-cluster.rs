//! Starts an Apache Kafka cluster for scripts and other test suites,
//! prints where it listens as one JSON line on stdout, and runs until its
//! stdin closes (or it is killed; the brokers die with it either way).
//!
//! ```text
//! kafka-cluster [--brokers N] [--property KEY=VALUE]... [--feature NAME=LEVEL]... [--authorizer SUPER_USERS]
//! ```
//!
//! `--authorizer User:alice[,User:bob..]` turns on the StandardAuthorizer
//! with those principals as super users (besides `User:ANONYMOUS`, who
//! every PLAINTEXT connection is): ACLs then apply on the SASL listeners.
//!
//! Lines on stdin take nodes down and back for fault tests, each answered
//! with one JSON line (`{"ok":true}` or `{"error":"..."}`):
//!
//! ```text
//! kill NODE      SIGKILL the node
//! stop NODE      stop it cleanly (SIGTERM: a controlled shutdown)
//! start NODE     start a stopped or killed node and wait until it answers,
//!                while others may still be down
//! restart NODE   start it again and wait until the cluster is whole
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;

use kafka_testkit::kafka::DEFAULT_USER;
use kafka_testkit::{KafkaCluster, Listener};

fn main() -> ExitCode {
    let mut builder = KafkaCluster::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs {what}")))
        };
        match arg.as_str() {
            "--brokers" => {
                let n = value("a number");
                match n.parse() {
                    Ok(n) if n >= 1 => builder = builder.brokers(n),
                    _ => usage(&format!("bad broker count {n:?}")),
                }
            }
            "--property" => {
                let kv = value("KEY=VALUE");
                let Some((k, v)) = kv.split_once('=') else {
                    usage(&format!("bad property {kv:?}"))
                };
                builder = builder.property(k, v);
            }
            "--feature" => {
                let kv = value("NAME=LEVEL");
                match kv.split_once('=').map(|(k, v)| (k, v.parse::<i16>())) {
                    Some((k, Ok(level))) => builder = builder.feature(k, level),
                    _ => usage(&format!("bad feature {kv:?}")),
                }
            }
            "--authorizer" => {
                let supers = value("super users, User:NAME[,User:NAME..]");
                let supers: Vec<&str> = supers.split(',').map(str::trim).collect();
                if supers.iter().any(|p| !p.contains(':')) {
                    usage(&format!(
                        "bad super users {supers:?}: expected User:NAME[,User:NAME..]"
                    ));
                }
                builder = builder.authorizer(&supers);
            }
            "-h" | "--help" => {
                println!("usage: kafka-cluster [--brokers N] [--property KEY=VALUE]... [--feature NAME=LEVEL]... [--authorizer SUPER_USERS]");
                return ExitCode::SUCCESS;
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let Some(cluster) = builder.start() else {
        eprintln!("kafka-cluster: no Kafka install (run scripts/install-kafka.sh)");
        return ExitCode::from(2);
    };
    let pki = cluster.pki();
    let fields = [
        ("bootstrap", cluster.bootstrap()),
        ("sasl_plaintext", cluster.bootstrap_for(Listener::Sasl)),
        ("ssl", cluster.bootstrap_for(Listener::Ssl)),
        ("sasl_ssl", cluster.bootstrap_for(Listener::SaslSsl)),
        ("mtls", cluster.bootstrap_for(Listener::Mtls)),
        ("ca", cluster.ca_pem().display().to_string()),
        ("client_cert", pki.path("client.pem").display().to_string()),
        ("client_key", pki.path("client.key").display().to_string()),
        ("user", DEFAULT_USER.0.to_string()),
        ("password", DEFAULT_USER.1.to_string()),
        ("dir", cluster.dir().display().to_string()),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", json_string(v)))
        .collect();
    println!("{{{}}}", body.join(","));
    // Serve commands until whoever started us closes our stdin; dropping
    // the cluster then stops the brokers and removes its directory.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = command(&cluster, line.trim());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
    drop(cluster);
    ExitCode::SUCCESS
}

/// Runs one stdin command; its JSON answer.
fn command(cluster: &KafkaCluster, line: &str) -> String {
    let mut words = line.split_whitespace();
    let (verb, node) = (words.next(), words.next().map(str::parse::<i32>));
    let node = match node {
        Some(Ok(n)) if cluster.node_ids().contains(&n) && words.next().is_none() => n,
        _ => {
            return format!(
                "{{\"error\":{}}}",
                json_string(&format!("bad command {line:?}"))
            )
        }
    };
    let run: fn(&KafkaCluster, i32) = match verb {
        Some("kill") => KafkaCluster::kill,
        Some("stop") => KafkaCluster::stop,
        Some("start") => KafkaCluster::start,
        Some("restart") => KafkaCluster::restart,
        _ => {
            return format!(
                "{{\"error\":{}}}",
                json_string(&format!("bad command {line:?}"))
            )
        }
    };
    // A node that does not come back panics in the harness; the cluster
    // stays up for the caller to see the error and stop it.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cluster, node))) {
        Ok(()) => "{\"ok\":true}".to_string(),
        Err(_) => format!("{{\"error\":{}}}", json_string(&format!("{line:?} failed"))),
    }
}

fn usage(why: &str) -> ! {
    eprintln!("kafka-cluster: {why}\nusage: kafka-cluster [--brokers N] [--property KEY=VALUE]... [--feature NAME=LEVEL]... [--authorizer SUPER_USERS]");
    std::process::exit(64)
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
