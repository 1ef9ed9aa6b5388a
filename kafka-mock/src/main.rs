//! `kafka-mock`: serve a fake Kafka cluster on 127.0.0.1 until killed.

use std::process::ExitCode;

use kafka_mock::{MockCluster, SaslMechanism};

const USAGE: &str = "usage: kafka-mock [--brokers N] [--port P] [--partitions N] \
[--topic NAME[:PARTITIONS[:REPLICATION]]]... [--log-append-time] [--no-auto-create] \
[--sasl-plain USER:PASS] [--sasl-scram-sha-256 USER:PASS] [--sasl-scram-sha-512 USER:PASS] \
[--sasl-oauthbearer USER:TOKEN] [--consumer-heartbeat-ms MS] [--consumer-session-ms MS] \
[--consumer-group-max-size N] [--consumer-assignment-interval-ms MS]

Listens on ports P, P+1, ... (one per broker; P=0 picks free ports), prints
`bootstrap: HOST:PORT,...` when ready, and serves until SIGINT or SIGTERM.";

fn parse() -> Result<MockCluster, String> {
    let mut b = MockCluster::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let int = |s: String, name: &str| {
            s.parse::<i64>()
                .map_err(|_| format!("{name}: not a number: {s}"))
        };
        match arg.as_str() {
            "--brokers" => {
                let n = int(value("--brokers")?, "--brokers")?;
                if !(1..=64).contains(&n) {
                    return Err("--brokers must be between 1 and 64".into());
                }
                b = b.brokers(n as i32);
            }
            "--port" => {
                let p = int(value("--port")?, "--port")?;
                let p = u16::try_from(p).map_err(|_| format!("--port out of range: {p}"))?;
                b = b.port(p);
            }
            "--partitions" => {
                let n = int(value("--partitions")?, "--partitions")?;
                if !(1..=10_000).contains(&n) {
                    return Err("--partitions must be between 1 and 10000".into());
                }
                b = b.default_partitions(n as i32);
            }
            "--topic" => {
                let spec = value("--topic")?;
                let mut parts = spec.split(':');
                let name = parts.next().unwrap_or_default().to_string();
                let partitions = parts
                    .next()
                    .map(|p| int(p.into(), "--topic"))
                    .transpose()?
                    .unwrap_or(1);
                let replication = parts
                    .next()
                    .map(|r| int(r.into(), "--topic"))
                    .transpose()?
                    .unwrap_or(1);
                b = b.topic(name, partitions as i32, replication as i16);
            }
            "--consumer-heartbeat-ms"
            | "--consumer-session-ms"
            | "--consumer-group-max-size"
            | "--consumer-assignment-interval-ms" => {
                let n = int(value(&arg)?, &arg)?;
                let zero_ok = arg == "--consumer-assignment-interval-ms";
                let n = i32::try_from(n)
                    .ok()
                    .filter(|n| *n > 0 || (zero_ok && *n == 0))
                    .ok_or(format!("{arg} must be a positive 32-bit number"))?;
                b = match arg.as_str() {
                    "--consumer-heartbeat-ms" => b.consumer_group_heartbeat_interval_ms(n),
                    "--consumer-session-ms" => b.consumer_group_session_timeout_ms(n),
                    "--consumer-assignment-interval-ms" => {
                        b.consumer_group_assignment_interval_ms(n)
                    }
                    _ => b.consumer_group_max_size(n),
                };
            }
            "--log-append-time" => b = b.log_append_time(true),
            "--no-auto-create" => b = b.auto_create_topics(false),
            "--sasl-plain"
            | "--sasl-scram-sha-256"
            | "--sasl-scram-sha-512"
            | "--sasl-oauthbearer" => {
                let mechanism = match arg.as_str() {
                    "--sasl-plain" => SaslMechanism::Plain,
                    "--sasl-scram-sha-256" => SaslMechanism::ScramSha256,
                    "--sasl-oauthbearer" => SaslMechanism::OAuthBearer,
                    _ => SaslMechanism::ScramSha512,
                };
                let cred = value(&arg)?;
                let (user, pass) = cred
                    .split_once(':')
                    .ok_or(format!("{arg} takes USER:PASS"))?;
                b = b.sasl_user(mechanism, user, pass);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    b.build().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cluster = match parse() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    println!("bootstrap: {}", cluster.bootstrap());
    // The default SIGINT/SIGTERM action ends the process, which is all
    // shutting down needs: the kernel closes the sockets.
    loop {
        std::thread::park();
    }
}
