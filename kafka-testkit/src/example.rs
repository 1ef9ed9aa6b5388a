//! Running an adapter's `copy_exactly_once` example as a child process:
//! the test binary starts itself again with the example's arguments in an
//! environment variable (the child calls the example instead of the
//! test), reads the JSON lines it reports, kills it, or closes its stdin
//! for a clean stop. Shared by the tokio, blocking and mio example tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running example, killed if the test ends before it stopped.
#[derive(Debug)]
pub struct Instance(pub Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Instance {
    /// Kills the example (SIGKILL) and waits for it.
    pub fn kill(mut self) {
        self.0.kill().expect("the example is killed");
        self.0.wait().expect("the example is reaped");
    }

    /// Closes the example's stdin and waits for it to stop on its own
    /// (30 s at most): it must end successfully.
    pub fn stop(mut self) {
        let child = &mut self.0;
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("the example's status") {
                break status;
            }
            assert!(Instant::now() < deadline, "the example did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");
    }
}

/// A line of the example's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// A transaction of this many records committed.
    Committed(usize),
    /// A transaction aborted; the example went back to the committed
    /// offsets.
    Aborted,
}

/// Starts this test binary again as the example: `test` names the test
/// function that calls the example when `var` is set, `args` go in `var`
/// one per line. What the example reports comes on the returned channel.
pub fn start(test: &str, var: &str, args: &[&str]) -> (Instance, mpsc::Receiver<Report>) {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, args.join("\n"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The test harness prints its own lines around the example's.
            let report = if line == r#"{"event":"aborted"}"# {
                Report::Aborted
            } else if let Some(rest) = line.strip_prefix(r#"{"event":"committed","records":"#) {
                match rest.split(',').next().and_then(|n| n.parse().ok()) {
                    Some(n) => Report::Committed(n),
                    None => continue,
                }
            } else {
                continue;
            };
            if tx.send(report).is_err() {
                break;
            }
        }
    });
    (Instance(child), rx)
}

/// Waits until one of `reports` tells of an abort (60 s at most).
pub fn wait_for_an_abort(reports: &[&mpsc::Receiver<Report>]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reports
        .iter()
        .any(|r| r.try_iter().any(|r| r == Report::Aborted))
    {
        assert!(Instant::now() < deadline, "no transaction aborted");
        std::thread::sleep(Duration::from_millis(20));
    }
}
