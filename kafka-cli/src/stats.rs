//! `--stats-interval`: the client's statistics snapshots as JSON lines
//! on stderr, one per interval, beside the records on stdout.

use std::time::Duration;

use kafka_state::Config;
use kafka_tokio::Client;
use tokio::task::JoinHandle;

/// Sets the interval from `--stats-interval MS` (which wins over
/// `-X statistics.interval.ms`); says whether snapshots are wanted.
pub fn configure(config: &mut Config, ms: Option<u64>) -> Result<bool, String> {
    match ms {
        Some(0) => return Err("--stats-interval: must be at least 1 ms".into()),
        Some(ms) => config.stats_interval = Some(Duration::from_millis(ms)),
        None => {}
    }
    Ok(config.stats_interval.is_some())
}

/// Starts printing the snapshots of `client` if `wanted`. The printer
/// ends when the client closes.
pub fn print(client: &Client, wanted: bool) -> Result<Option<JoinHandle<()>>, String> {
    if !wanted {
        return Ok(None);
    }
    let mut snapshots = client.stats_events().map_err(crate::error_line)?;
    Ok(Some(tokio::spawn(async move {
        while let Some(s) = snapshots.recv().await {
            match serde_json::to_string(&*s) {
                Ok(line) => eprintln!("{line}"),
                Err(e) => eprintln!("statistics not printed: {e}"),
            }
        }
    })))
}

/// Once the client is closed: waits for the printer to write what it
/// has, then prints a last snapshot with the final counts.
pub async fn finish(client: &Client, printer: Option<JoinHandle<()>>) {
    let Some(p) = printer else {
        return;
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), p).await;
    if let Ok(s) = client.stats() {
        if let Ok(line) = serde_json::to_string(&s) {
            eprintln!("{line}");
        }
    }
}
