//! Samples, the markdown table and the `ratio` lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::{
    Kind, Scenario, BLOCKING_LEND, BLOCKING_MANY, CLIENTS, FRANZ, JAVA, OURS, PEERS, RAW, TOKIO_CT,
    TOKIO_LEND, TOKIO_MANY,
};

/// One client's run of one scenario.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub records: u64,
    pub bytes: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub first_us: f64,
    pub cpu: Duration,
    pub max_rss_kib: u64,
    /// CPU time the child measured itself over its timed part (`cpu_s`,
    /// the Java peer's), used instead of the whole child's.
    pub own_cpu: Option<Duration>,
    /// The broker's CPU time over the client's whole run, in % of one
    /// core: near 100 for Tansu, the broker set the pace, not the client.
    pub broker_cpu_pct: Option<f64>,
}

impl Sample {
    /// Reads the child's `result k=v ...` line.
    pub fn parse(stdout: &str) -> Option<Self> {
        let line = stdout.lines().find_map(|l| l.strip_prefix("result "))?;
        let mut s = Sample::default();
        for kv in line.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            match k {
                "records" => s.records = v.parse().ok()?,
                "bytes" => s.bytes = v.parse().ok()?,
                "secs" => s.secs = v.parse().ok()?,
                "p50_us" => s.p50_us = v.parse().ok()?,
                "p99_us" => s.p99_us = v.parse().ok()?,
                "first_us" => s.first_us = v.parse().ok()?,
                "cpu_s" => s.own_cpu = Some(Duration::try_from_secs_f64(v.parse().ok()?).ok()?),
                _ => {}
            }
        }
        (s.secs > 0.0).then_some(s)
    }

    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }

    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }

    fn cpu_per_million(&self) -> f64 {
        self.cpu.as_secs_f64() / self.records as f64 * 1e6
    }

    fn first_ms(&self) -> f64 {
        self.first_us / 1000.0
    }

    fn rebalance_ms(&self) -> f64 {
        self.secs * 1000.0
    }

    fn rss_mb(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    fn broker_cpu(&self) -> f64 {
        self.broker_cpu_pct.unwrap_or(f64::NAN)
    }

    pub fn summary(&self, s: &Scenario) -> String {
        let head = match s.kind {
            Kind::RoundTrip => format!("p50 {:.0} µs, p99 {:.0} µs", self.p50_us, self.p99_us),
            Kind::Rebalance { .. } => format!("rebalanced in {:.0} ms", self.rebalance_ms()),
            Kind::Consume { .. } => format!(
                "{:.0}/s, {:.1} MB/s, first record after {:.0} ms",
                self.rate(),
                self.mb_per_s(),
                self.first_ms()
            ),
            _ => format!("{:.0}/s, {:.1} MB/s", self.rate(), self.mb_per_s()),
        };
        let broker = self
            .broker_cpu_pct
            .map_or(String::new(), |b| format!(", broker CPU {b:.0} %"));
        format!(
            "{head}, {:.2} s, CPU {:.2} s, RSS {:.1} MB{broker}",
            self.secs,
            self.cpu.as_secs_f64(),
            self.rss_mb()
        )
    }
}

/// Our best client against the best peer for one metric.
struct BestPair {
    ours: (&'static str, f64),
    peer: (&'static str, f64),
    ratio: f64,
}

/// Every client's samples of one scenario.
pub struct Row {
    scenario: Scenario,
    samples: BTreeMap<&'static str, Vec<Sample>>,
    /// Client runs that failed: client, round, why.
    failures: Vec<(&'static str, usize, String)>,
}

impl Row {
    pub fn new(s: &Scenario) -> Self {
        Self {
            scenario: s.clone(),
            samples: BTreeMap::new(),
            failures: Vec::new(),
        }
    }

    pub fn add(&mut self, client: &'static str, s: Sample) {
        self.samples.entry(client).or_default().push(s);
    }

    /// Records that `client`'s run of round `round` failed.
    pub fn fail(&mut self, client: &'static str, round: usize, why: String) {
        self.failures.push((client, round, why));
    }

    /// The client runs that failed.
    pub fn failures(&self) -> &[(&'static str, usize, String)] {
        &self.failures
    }

    /// The best of a client's rounds: fastest, or lowest median latency.
    fn best(&self, client: &str) -> Option<&Sample> {
        let v = self.samples.get(client)?;
        match self.scenario.kind {
            Kind::RoundTrip => v.iter().min_by(|a, b| a.p50_us.total_cmp(&b.p50_us)),
            Kind::Rebalance { .. } => v.iter().min_by(|a, b| a.secs.total_cmp(&b.secs)),
            _ => v.iter().max_by(|a, b| a.rate().total_cmp(&b.rate())),
        }
    }

    /// The best value of `m` among `clients` that ran (highest or lowest,
    /// as the metric goes), with the client's name.
    fn best_of(&self, clients: &[&'static str], m: &Metric) -> Option<(&'static str, f64)> {
        clients
            .iter()
            .filter_map(|&c| Some((c, (m.value)(self.best(c)?))))
            .filter(|(_, v)| v.is_finite())
            .reduce(|a, b| {
                let better = if m.higher { b.1 > a.1 } else { b.1 < a.1 };
                if better {
                    b
                } else {
                    a
                }
            })
    }

    /// Our best adapter (lending included) and the best peer for `m`,
    /// each with its value, and the first ÷ the second.
    fn vs_best_peer(&self, m: &Metric) -> Option<BestPair> {
        if !m.compared {
            return None;
        }
        let ours = self.best_of(&OURS, m)?;
        let peer = self.best_of(&self.peers(), m)?;
        (peer.1 > 0.0).then_some(BestPair {
            ours,
            peer,
            ratio: ours.1 / peer.1,
        })
    }

    /// Just the ratio of [`Row::vs_best_peer`].
    fn ratio_best(&self, m: &Metric) -> Option<f64> {
        self.vs_best_peer(m).map(|b| b.ratio)
    }

    /// The peers this scenario has (see [`Scenario::peer_supports`]).
    fn peers(&self) -> Vec<&'static str> {
        PEERS
            .into_iter()
            .filter(|p| self.scenario.peer_supports(p))
            .collect()
    }

    /// (metric, value of a sample, goal as a bound on "our best ÷ the best peer", higher is better)
    fn metrics(&self) -> Vec<Metric> {
        let produce = matches!(self.scenario.kind, Kind::Produce { .. });
        let consume = matches!(self.scenario.kind, Kind::Consume { .. });
        let speed_goal = if produce {
            Some(Goal::AtLeast(1.3))
        } else if consume {
            Some(Goal::AtLeast(1.5))
        } else {
            None
        };
        let cpu_goal = (produce || consume).then_some(Goal::AtMost(0.5));
        let rss_goal = Some(Goal::AtMost(1.0));
        match self.scenario.kind {
            Kind::Produce { .. } => vec![
                Metric::new("msgs/s", Sample::rate, speed_goal),
                Metric::new("MB/s", Sample::mb_per_s, speed_goal),
                Metric::new("CPU s/1M msgs", Sample::cpu_per_million, cpu_goal),
                Metric::new("peak RSS MB", Sample::rss_mb, rss_goal),
                Metric::broker_cpu(),
            ],
            Kind::Consume { .. } => vec![
                Metric::new("msgs/s", Sample::rate, speed_goal),
                Metric::new("MB/s", Sample::mb_per_s, speed_goal),
                Metric::new("CPU s/1M msgs", Sample::cpu_per_million, cpu_goal),
                Metric::new("peak RSS MB", Sample::rss_mb, rss_goal),
                Metric::new("first record ms", Sample::first_ms, None),
                Metric::broker_cpu(),
            ],
            Kind::Rebalance { .. } => vec![
                Metric::new(
                    "rebalance ms",
                    Sample::rebalance_ms,
                    Some(Goal::AtMost(1.0)),
                ),
                Metric::new("peak RSS MB", Sample::rss_mb, rss_goal),
            ],
            Kind::RoundTrip => vec![
                Metric::new("p50 µs", |s| s.p50_us, None),
                Metric::new("p99 µs", |s| s.p99_us, None),
                Metric::new("CPU s/1M msgs", Sample::cpu_per_million, None),
                Metric::new("peak RSS MB", Sample::rss_mb, rss_goal),
                Metric::broker_cpu(),
            ],
            Kind::Metadata { .. } => vec![
                Metric::new("req/s", Sample::rate, None),
                Metric::new("CPU s/1M req", Sample::cpu_per_million, None),
                Metric::new("peak RSS MB", Sample::rss_mb, rss_goal),
            ],
        }
    }
}

#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, ratio: f64) -> bool {
        match self {
            Goal::AtLeast(g) => ratio >= g,
            Goal::AtMost(g) => ratio <= g,
        }
    }

    fn text(self) -> String {
        match self {
            Goal::AtLeast(g) => format!("≥ {g}×"),
            Goal::AtMost(g) => format!("≤ {g}×"),
        }
    }
}

struct Metric {
    name: &'static str,
    value: fn(&Sample) -> f64,
    goal: Option<Goal>,
    /// Rates are better higher; times, CPU and memory lower.
    higher: bool,
    /// Whether clients are compared on it (ratios, best peer); the
    /// broker's CPU only tells who set the pace.
    compared: bool,
}

impl Metric {
    fn new(name: &'static str, value: fn(&Sample) -> f64, goal: Option<Goal>) -> Self {
        let higher = matches!(name, "msgs/s" | "MB/s" | "req/s");
        Self {
            name,
            value,
            goal,
            higher,
            compared: true,
        }
    }

    /// The broker's CPU during each client's run: shown, not compared.
    fn broker_cpu() -> Self {
        Self {
            compared: false,
            ..Self::new(BROKER_CPU, Sample::broker_cpu, None)
        }
    }
}

/// The name of the broker CPU metric.
const BROKER_CPU: &str = "broker CPU %";

/// EV::Kafka's published figures, the reference column.
fn reference(scenario: &str, metric: &str) -> &'static str {
    match (scenario, metric) {
        ("produce-1p", "msgs/s") => "68K",
        ("produce-acks-0", "msgs/s") => "100K",
        ("consume-1p", "msgs/s") => "31K",
        ("roundtrip", "p50 µs") => "54",
        ("metadata", "req/s") => "25K",
        _ => "",
    }
}

fn fmt(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}K", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(ours: Option<&Sample>, theirs: Option<&Sample>, m: &Metric) -> Option<f64> {
    let (o, t) = ((m.value)(ours?), (m.value)(theirs?));
    (t > 0.0).then_some(o / t)
}

pub fn markdown(rows: &[Row], mode: &str, broker: &str, rounds: usize, took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Mode: {mode}, broker: {broker}, best of {rounds} round(s) per client, {:.0} s in all. \
         franz-go and java are the peers of other languages (n/a: no such run); \
         best peer = the best of rdkafka, franz-go and java; best of ours = the \
         best of our adapters, lending and send_many included. Goals bound that ratio. The java \
         column's CPU is its timed part only (JVM start-up and JIT warm-up left out). \
         `broker CPU %` is the broker's CPU time over each client's whole run, in % of one \
         core: near 100 on Tansu, the broker set the pace, not the client.\n",
        took.as_secs_f64()
    );
    out.push_str(
        "| scenario | records | metric | kafka-tokio | kafka-tokio (current-thread) | kafka-blocking | lent / send_many (tokio / blocking) | rdkafka | \
         franz-go | java | best peer | raw TCP | best of ours ÷ best peer | goal | met | EV::Kafka |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|\n");
    for row in rows {
        let s = &row.scenario;
        for m in row.metrics() {
            let cell = |x: Option<&Sample>| {
                x.map(|x| (m.value)(x))
                    .filter(|v| v.is_finite())
                    .map_or("–".to_string(), fmt)
            };
            let peer = |p: &str| {
                if s.peer_supports(p) {
                    cell(row.best(p))
                } else {
                    "n/a".to_string()
                }
            };
            let best_peer = match row.best_of(&row.peers(), &m) {
                _ if !m.compared => String::new(),
                Some((p, v)) => format!("{} ({p})", fmt(v)),
                None => "–".to_string(),
            };
            let raw = if matches!(s.kind, Kind::RoundTrip) && m.name.ends_with("µs") {
                cell(row.best(RAW))
            } else {
                String::new()
            };
            let lent = match s.kind {
                Kind::Consume { .. } => {
                    format!(
                        "{} / {}",
                        cell(row.best(TOKIO_LEND)),
                        cell(row.best(BLOCKING_LEND))
                    )
                }
                Kind::Produce {
                    transaction: None, ..
                } => {
                    format!(
                        "{} / {}",
                        cell(row.best(TOKIO_MANY)),
                        cell(row.best(BLOCKING_MANY))
                    )
                }
                _ => String::new(),
            };
            let vs_best = row.ratio_best(&m);
            let (goal, met) = match m.goal {
                Some(g) => (
                    g.text(),
                    vs_best
                        .map_or("–", |x| if g.met(x) { "yes" } else { "**no**" })
                        .to_string(),
                ),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                s.records,
                m.name,
                cell(row.best(CLIENTS[0])),
                cell(row.best(TOKIO_CT)),
                cell(row.best(CLIENTS[1])),
                lent,
                cell(row.best(CLIENTS[2])),
                peer(FRANZ),
                peer(JAVA),
                best_peer,
                raw,
                vs_best.map_or(String::new(), |x| format!("{x:.2}")),
                goal,
                met,
                reference(s.name, m.name)
            );
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.failures.iter().map(move |(client, round, why)| {
                format!(
                    "- {} / {client}, round {}: {why}",
                    r.scenario.name,
                    round + 1
                )
            })
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(
            out,
            "\nFailed client runs (their cells show what the other rounds gave, or –):\n"
        );
        for f in failures {
            let _ = writeln!(out, "{f}");
        }
    }
    out
}

/// Every goal of a scenario with a goal, one line each: our best adapter
/// (lending included) ÷ the best peer, and for the round trip each
/// adapter ÷ the raw TCP floor, marked met or not.
pub fn goals_markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | metric | ours (best adapter) | best peer | ratio | goal | met |\n\
         |---|---|---:|---:|---:|---|---|\n",
    );
    let mark = |g: Goal, x: f64| if g.met(x) { "yes" } else { "**no**" };
    for row in rows {
        let s = &row.scenario;
        for m in row.metrics() {
            let Some(g) = m.goal else { continue };
            if m.name == "MB/s" {
                // The same ratio as msgs/s.
                continue;
            }
            if let Some(BestPair {
                ours: (oc, o),
                peer: (pc, p),
                ratio: x,
            }) = row.vs_best_peer(&m)
            {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} ({oc}) | {} ({pc}) | {x:.2} | {} | {} |",
                    s.name,
                    m.name,
                    fmt(o),
                    fmt(p),
                    g.text(),
                    mark(g, x)
                );
            }
        }
        if let (Kind::RoundTrip, Some(raw)) = (s.kind, row.best(RAW)) {
            for (label, value, g) in [
                (
                    "p50 µs",
                    (|s: &Sample| s.p50_us) as fn(&Sample) -> f64,
                    Goal::AtMost(1.1),
                ),
                ("p99 µs", |s: &Sample| s.p99_us, Goal::AtMost(1.5)),
            ] {
                let f = value(raw);
                for client in [CLIENTS[0], TOKIO_CT, CLIENTS[1]] {
                    if let (Some(o), true) = (row.best(client).map(value), f > 0.0) {
                        let x = o / f;
                        let _ = writeln!(
                            out,
                            "| {} | {label} | {} ({client}) | {} (raw TCP floor) | {x:.2} | {} | {} |",
                            s.name,
                            fmt(o),
                            fmt(f),
                            g.text(),
                            mark(g, x)
                        );
                    }
                }
            }
        }
    }
    out
}

/// `ratio <scenario> <metric>: <ours/theirs>`, ours being kafka-tokio on
/// the multi-thread runtime; the other adapters' lines name them after the
/// scenario (`produce-1p/blocking`). Then `ratio-best <scenario> <metric>`:
/// our best adapter ÷ the best peer (for lower-better metrics, our lowest
/// ÷ the lowest peer's); and for the round trip `ratio-floor <scenario>
/// p50` and `p99`: our best adapter ÷ the raw TCP floor of the same run.
pub fn ratio_lines(rows: &[Row]) -> Vec<String> {
    let mut lines = ratio_rd_lines(rows);
    for row in rows {
        let s = &row.scenario;
        for m in row.metrics() {
            if let Some(x) = row.ratio_best(&m) {
                lines.push(format!("ratio-best {} {}: {x:.3}", s.name, m.name));
            }
        }
        if let Kind::RoundTrip = s.kind {
            for (label, value) in [
                ("p50", (|s: &Sample| s.p50_us) as fn(&Sample) -> f64),
                ("p99", |s: &Sample| s.p99_us),
            ] {
                let m = Metric::new(label, value, None);
                let ours = row.best_of(&OURS, &m);
                let floor = row.best(RAW).map(value);
                if let (Some((_, o)), Some(f)) = (ours, floor) {
                    if f > 0.0 {
                        lines.push(format!("ratio-floor {} {label}: {:.3}", s.name, o / f));
                    }
                }
            }
        }
    }
    lines
}

fn ratio_rd_lines(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    for row in rows {
        let s = &row.scenario;
        let rd = row.best(CLIENTS[2]);
        for m in row.metrics().into_iter().filter(|m| m.compared) {
            for (client, label) in [
                (CLIENTS[0], ""),
                (TOKIO_CT, "/tokio-ct"),
                (CLIENTS[1], "/blocking"),
                (TOKIO_LEND, "/tokio-lend"),
                (BLOCKING_LEND, "/blocking-lend"),
                (TOKIO_MANY, "/tokio-many"),
                (BLOCKING_MANY, "/blocking-many"),
            ] {
                if let Some(x) = ratio(row.best(client), rd, &m) {
                    lines.push(format!("ratio {}{label} {}: {x:.3}", s.name, m.name));
                }
            }
        }
        // A group member against manual assignment, same client, same run.
        if let Kind::Consume {
            partitions,
            group: true,
        } = s.kind
        {
            let manual = rows.iter().find(|r| {
                matches!(r.scenario.kind, Kind::Consume { partitions: p, group: false } if p == partitions)
            });
            if let Some(manual) = manual {
                let rate = Metric::new("msgs/s", Sample::rate, None);
                for (client, label) in [
                    (CLIENTS[0], ""),
                    (TOKIO_CT, "/tokio-ct"),
                    (CLIENTS[1], "/blocking"),
                    (CLIENTS[2], "/rdkafka"),
                ] {
                    if let Some(x) = ratio(row.best(client), manual.best(client), &rate) {
                        lines.push(format!(
                            "ratio {}{label} msgs/s-vs-{}: {x:.3}",
                            s.name, manual.scenario.name
                        ));
                    }
                }
            }
        }
        if let (Kind::RoundTrip, Some(raw)) = (s.kind, row.best(RAW)) {
            let p50 = Metric::new("p50", |s| s.p50_us, None);
            for (client, label) in [
                (CLIENTS[0], ""),
                (TOKIO_CT, "/tokio-ct"),
                (CLIENTS[1], "/blocking"),
                (CLIENTS[2], "/rdkafka"),
            ] {
                if let Some(x) = ratio(row.best(client), Some(raw), &p50) {
                    lines.push(format!("ratio {}{label} p50-vs-raw-tcp: {x:.3}", s.name));
                }
            }
        }
    }
    lines
}
