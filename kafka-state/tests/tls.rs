//! TLS end to end: the client's sans-IO TLS layer against an in-process
//! rustls `ServerConnection` in front of the mock cluster. Certificates in
//! `tests/data/` (ECDSA P-256, valid until 2126; see its README).
#![cfg(feature = "tls")]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_mock::{Cluster, ClusterConfig, Output};
use kafka_proto::frame::split_frame;
use kafka_state::{
    BrokerAddr, Client, Config, ConnId, ConnRequest, DisconnectReason, Event, Misuse, NewTopic,
    SaslConfig, TlsConfig,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

const TEST_CA: &[u8] = include_bytes!("data/test-ca.pem");
const OTHER_CA: &[u8] = include_bytes!("data/other-ca.pem");
const CLIENT_CA: &[u8] = include_bytes!("data/client-ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("data/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("data/server.key");
const CLIENT_CERT: &[u8] = include_bytes!("data/client.pem");
const CLIENT_KEY: &[u8] = include_bytes!("data/client.key");

fn certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .unwrap()
}

fn server_config(require_client_cert: bool) -> Arc<ServerConfig> {
    server_config_with(require_client_cert, rustls::DEFAULT_VERSIONS)
}

fn server_config_with(
    require_client_cert: bool,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        for c in certs(CLIENT_CA) {
            roots.add(c).unwrap();
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    Arc::new(builder.with_single_cert(certs(SERVER_CERT), key).unwrap())
}

struct ServerSide {
    tls: ServerConnection,
    plaintext: BytesMut,
    failed: bool,
}

/// A client, the mock cluster behind a rustls server per connection, and
/// a clock. Bytes cross in chunks of seeded sizes so TLS records and
/// frames are split at arbitrary points.
struct TlsPair {
    client: Client,
    cluster: Cluster,
    now: Instant,
    server_config: Arc<ServerConfig>,
    servers: BTreeMap<ConnId, ServerSide>,
    read_bufs: BTreeMap<ConnId, BytesMut>,
    events: Vec<Event>,
    first_bytes: Vec<u8>,
    rng: u64,
}

#[allow(clippy::disallowed_methods)] // the test's one clock read
fn epoch() -> Instant {
    Instant::now()
}

impl TlsPair {
    fn new(host: &str, tls: TlsConfig, server_config: Arc<ServerConfig>, seed: u64) -> Self {
        Self::with(host, server_config, seed, |c| c.tls = Some(tls))
    }

    fn with(
        host: &str,
        server_config: Arc<ServerConfig>,
        seed: u64,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let now = epoch();
        let mut cluster = Cluster::new(ClusterConfig::default(), now);
        cluster.set_broker_port(0, 9092);
        let mut config = Config::new([BrokerAddr::new(host, 9092)]);
        config.seed = seed;
        tweak(&mut config);
        let client = Client::new(config, now).unwrap();
        Self {
            client,
            cluster,
            now,
            server_config,
            servers: BTreeMap::new(),
            read_bufs: BTreeMap::new(),
            events: Vec::new(),
            first_bytes: Vec::new(),
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    fn chunk(&mut self) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        1 + (self.rng % 700) as usize
    }

    /// Moves everything that can move; false if nothing did.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.client.poll_transmit() {
            moved = true;
            if self.first_bytes.is_empty() {
                self.first_bytes = t.bytes.to_vec();
            }
            let Some(s) = self.servers.get_mut(&t.conn) else {
                continue;
            };
            let mut rest = &t.bytes[..];
            while !rest.is_empty() && !s.failed {
                s.tls.read_tls(&mut rest).unwrap();
                match s.tls.process_new_packets() {
                    Ok(state) => {
                        let n = state.plaintext_bytes_to_read();
                        let start = s.plaintext.len();
                        s.plaintext.resize(start + n, 0);
                        s.tls
                            .reader()
                            .read_exact(&mut s.plaintext[start..])
                            .unwrap();
                    }
                    // The server sends its alert, then gives up.
                    Err(_) => s.failed = true,
                }
            }
            while let Some(frame) = split_frame(&mut s.plaintext, 1 << 24).unwrap() {
                self.cluster
                    .handle_frame(self.now, kafka_mock::ConnId(t.conn.0), frame);
            }
        }
        let mut opened = Vec::new();
        while let Some(req) = self.client.poll_conn() {
            moved = true;
            match req {
                ConnRequest::Open { conn, .. } => opened.push(conn),
                ConnRequest::Close { conn } => {
                    self.servers.remove(&conn);
                    self.read_bufs.remove(&conn);
                    self.cluster
                        .handle_closed(self.now, kafka_mock::ConnId(conn.0));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
        for conn in opened {
            let tls = ServerConnection::new(self.server_config.clone()).unwrap();
            self.servers.insert(
                conn,
                ServerSide {
                    tls,
                    plaintext: BytesMut::new(),
                    failed: false,
                },
            );
            self.cluster
                .handle_connected(self.now, kafka_mock::ConnId(conn.0), 0);
            self.client.handle_connected(self.now, conn);
        }
        while let Some(out) = self.cluster.poll_output() {
            if let Output::Send { conn, bytes } = out {
                if let Some(s) = self.servers.get_mut(&ConnId(conn.0)) {
                    s.tls.writer().write_all(&bytes).unwrap();
                }
            }
        }
        let conns: Vec<ConnId> = self.servers.keys().copied().collect();
        for conn in conns {
            let mut wire = Vec::new();
            let s = self.servers.get_mut(&conn).unwrap();
            while s.tls.wants_write() {
                s.tls.write_tls(&mut wire).unwrap();
            }
            let failed = s.failed;
            let mut at = 0;
            while at < wire.len() {
                moved = true;
                let end = (at + self.chunk()).min(wire.len());
                let buf = self.read_bufs.entry(conn).or_default();
                buf.extend_from_slice(&wire[at..end]);
                self.client.handle_recv(self.now, conn, buf);
                assert!(buf.is_empty(), "TLS consumes all ciphertext");
                at = end;
                if !self.servers.contains_key(&conn) {
                    break;
                }
            }
            if failed && self.servers.remove(&conn).is_some() {
                moved = true;
                self.client.handle_closed(self.now, conn);
            }
        }
        moved
    }

    /// Runs until `done`, jumping the clock to the client's timers when
    /// idle; panics after `limit` of virtual time.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&TlsPair) -> bool) {
        let deadline = self.now + limit;
        for _ in 0..100_000 {
            if done(self) {
                return;
            }
            if !self.step() {
                let Some(t) = self.client.poll_timeout() else {
                    break;
                };
                if t > deadline {
                    break;
                }
                self.now = self.now.max(t);
                self.client.handle_timeout(self.now);
            }
        }
        assert!(done(self), "not reached; events: {:?}", self.events);
    }

    fn tls_failure(&self) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            Event::ConnectionLost {
                reason: DisconnectReason::Tls(m),
                ..
            } => Some(m.clone()),
            _ => None,
        })
    }

    fn ready(&self) -> bool {
        self.events.contains(&Event::MetadataUpdated)
    }
}

fn trusting_test_ca() -> TlsConfig {
    TlsConfig::new().with_ca_pem(TEST_CA)
}

#[test]
fn handshake_then_metadata_and_admin_round_trip_through_tls() {
    for seed in 0..10 {
        let mut p = TlsPair::new(
            "broker.test",
            trusting_test_ca(),
            server_config(false),
            seed,
        );
        p.run_until(Duration::from_secs(5), TlsPair::ready);
        // A TLS handshake record, not a Kafka frame, went out first.
        assert_eq!(p.first_bytes[0], 0x16, "TLS handshake record");
        let now = p.now;
        let id = p
            .client
            .admin()
            .create_topics(now, [NewTopic::new("secure", 2, 1)])
            .unwrap();
        p.run_until(Duration::from_secs(5), |p| {
            p.events
                .iter()
                .any(|e| matches!(e, Event::AdminResult { id: got, result: Ok(_) } if *got == id))
        });
        assert_eq!(p.tls_failure(), None);
        assert!(!p
            .events
            .iter()
            .any(|e| matches!(e, Event::ConnectionLost { .. })));
    }
}

#[test]
fn a_tls12_only_broker_works_too() {
    let server = server_config_with(false, &[&rustls::version::TLS12]);
    let mut p = TlsPair::new("127.0.0.1", trusting_test_ca(), server, 3);
    p.run_until(Duration::from_secs(5), TlsPair::ready);
    let version = p.servers.values().find_map(|s| s.tls.protocol_version());
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_2));
}

#[test]
fn sasl_over_tls() {
    let mut p = TlsPair::with("broker.test", server_config(false), 1, |c| {
        c.tls = Some(trusting_test_ca());
        c.sasl = Some(SaslConfig::scram_sha256("alice", "pw"));
    });
    p.cluster
        .add_sasl_user(kafka_mock::SaslMechanism::ScramSha256, "alice", "pw");
    p.run_until(Duration::from_secs(5), TlsPair::ready);
}

#[test]
fn an_unknown_ca_fails_with_a_clear_error() {
    let mut p = TlsPair::new(
        "broker.test",
        TlsConfig::new().with_ca_pem(OTHER_CA),
        server_config(false),
        1,
    );
    p.run_until(Duration::from_secs(5), |p| p.tls_failure().is_some());
    let m = p.tls_failure().unwrap();
    assert!(m.contains("UnknownIssuer"), "{m}");
    assert!(!p.ready());

    // Mozilla's roots do not include the test CA either.
    let mut p = TlsPair::new("broker.test", TlsConfig::new(), server_config(false), 1);
    p.run_until(Duration::from_secs(5), |p| p.tls_failure().is_some());
    assert!(p.tls_failure().unwrap().contains("UnknownIssuer"));
}

/// A call waiting for a connection fails with the TLS error as soon as
/// the handshake fails, not when the API timeout (60 s here) runs out.
#[test]
fn an_unknown_ca_fails_waiting_calls_at_once() {
    for seed in 0..5 {
        let mut p = TlsPair::with("broker.test", server_config(false), seed, |c| {
            c.tls = Some(TlsConfig::new().with_ca_pem(OTHER_CA));
            c.api_timeout = Duration::from_secs(60);
        });
        let now = p.now;
        let id = p
            .client
            .admin()
            .create_topics(now, [NewTopic::new("never", 1, 1)])
            .unwrap();
        p.run_until(Duration::from_secs(5), |p| {
            p.events
                .iter()
                .any(|e| matches!(e, Event::AdminResult { id: got, result: Err(_) } if *got == id))
        });
        let error = p.events.iter().find_map(|e| match e {
            Event::AdminResult {
                id: got,
                result: Err(error),
            } if *got == id => Some(error),
            _ => None,
        });
        assert!(
            format!("{error:?}").contains("UnknownIssuer"),
            "seed {seed}: {error:?}"
        );
    }
}

#[test]
fn a_wrong_server_name_fails() {
    let mut p = TlsPair::new("wrong.test", trusting_test_ca(), server_config(false), 1);
    p.run_until(Duration::from_secs(5), |p| p.tls_failure().is_some());
    let m = p.tls_failure().unwrap();
    assert!(m.contains("not valid for name \"wrong.test\""), "{m}");

    // An explicit server name overrides the address's host.
    let tls = trusting_test_ca().with_server_name("broker.test");
    let mut p = TlsPair::new("wrong.test", tls, server_config(false), 1);
    p.run_until(Duration::from_secs(5), TlsPair::ready);
}

#[test]
fn dangerous_disable_verification_connects_to_an_untrusted_broker() {
    let tls = TlsConfig::new()
        .with_ca_pem(OTHER_CA)
        .dangerous_disable_verification();
    let mut p = TlsPair::new("wrong.test", tls, server_config(false), 1);
    p.run_until(Duration::from_secs(5), TlsPair::ready);
    assert_eq!(p.tls_failure(), None);
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let tls = trusting_test_ca().with_client_cert_pem(CLIENT_CERT, CLIENT_KEY);
    let mut p = TlsPair::new("broker.test", tls, server_config(true), 1);
    p.run_until(Duration::from_secs(5), TlsPair::ready);
    let presented = p
        .servers
        .values()
        .find_map(|s| s.tls.peer_certificates().map(|c| c.to_vec()))
        .expect("the server saw a client certificate");
    assert_eq!(presented, certs(CLIENT_CERT));

    // Without one, the server refuses the handshake and says so.
    let mut p = TlsPair::new("broker.test", trusting_test_ca(), server_config(true), 1);
    p.run_until(Duration::from_secs(5), |p| p.tls_failure().is_some());
    let m = p.tls_failure().unwrap();
    assert!(m.contains("alert"), "{m}");
    assert!(!p.ready());
}

#[test]
fn unusable_settings_are_misuse_and_the_key_stays_out_of_debug() {
    let now = epoch();
    let client = |tls: TlsConfig| {
        let mut c = Config::new([BrokerAddr::new("broker.test", 9092)]);
        c.tls = Some(tls);
        Client::new(c, now).map(|_| ())
    };
    for bad in [
        TlsConfig::new().with_ca_pem(&b"not a pem"[..]),
        TlsConfig::new().with_server_name("bad name!"),
        TlsConfig::new().with_client_cert_pem(CLIENT_CERT, &b"no key"[..]),
        TlsConfig::new().with_client_cert_pem(&b""[..], CLIENT_KEY),
        // A key that does not belong to the certificate.
        TlsConfig::new().with_client_cert_pem(CLIENT_CERT, SERVER_KEY),
    ] {
        let r = client(bad.clone());
        assert!(
            matches!(r, Err(Misuse::InvalidTlsConfig(_))),
            "{bad:?}: {r:?}"
        );
    }
    assert!(client(TlsConfig::new()).is_ok());

    let tls = trusting_test_ca().with_client_cert_pem(CLIENT_CERT, CLIENT_KEY);
    let mut c = Config::new([BrokerAddr::new("broker.test", 9092)]);
    c.tls = Some(tls);
    let key_body = std::str::from_utf8(CLIENT_KEY)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap();
    let text = format!("{c:?}");
    assert!(
        text.contains("redacted") && !text.contains(key_body),
        "{text}"
    );
}

#[test]
fn garbage_instead_of_tls_closes_with_a_tls_error() {
    let now = epoch();
    let mut c = Config::new([BrokerAddr::new("broker.test", 9092)]);
    c.tls = Some(trusting_test_ca());
    let mut client = Client::new(c, now).unwrap();
    let Some(ConnRequest::Open { conn, .. }) = client.poll_conn() else {
        panic!("expected an open request");
    };
    client.handle_connected(now, conn);
    let hello = client.poll_transmit().expect("a ClientHello");
    assert_eq!(hello.bytes[0], 0x16);
    // A plaintext Kafka frame where a TLS record should be.
    let mut buf = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0][..]);
    client.handle_recv(now, conn, &mut buf);
    assert_eq!(client.poll_conn(), Some(ConnRequest::Close { conn }));
    let lost = std::iter::from_fn(|| client.poll_event()).find_map(|e| match e {
        Event::ConnectionLost {
            reason: DisconnectReason::Tls(m),
            ..
        } => Some(m),
        _ => None,
    });
    assert!(lost.is_some());
}
