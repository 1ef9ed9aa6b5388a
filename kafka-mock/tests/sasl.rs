//! SASL on the mock: PLAIN and SCRAM-SHA-256/512 exchanges driven through
//! the sans-IO `Cluster` (fake clock), the RFC 7677 test vector, failures
//! that close the connection, v0 raw tokens, and one exchange over TCP.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use kafka_mock::{
    Cluster, ClusterConfig, ConnId, ErrorInjection, MockCluster, Output, SaslMechanism,
};
use kafka_proto::frame::{decode_response_frame, encode_request_frame};
use kafka_proto::messages::*;
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use sha2::{Digest, Sha256, Sha512};

const CONN: ConnId = ConnId(1);

/// A cluster and one connection to broker 0, on a fake clock.
struct Harness {
    cluster: Cluster,
    now: Instant,
    correlation: i32,
}

/// What the cluster did after one request.
#[derive(Debug)]
struct Answer {
    /// The decoded response, if one was sent.
    body: Option<ResponseBody>,
    /// The close reason, if the connection was closed.
    closed: Option<String>,
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let mut cluster = Cluster::new(ClusterConfig::default(), now);
        cluster.handle_connected(now, CONN, 0);
        Self {
            cluster,
            now,
            correlation: 0,
        }
    }

    fn call(&mut self, version: i16, body: impl Into<RequestBody>) -> Answer {
        let body = body.into();
        let key = body.api_key();
        self.correlation += 1;
        let frame = support::request_frame(self.correlation, version, &body, "sasl-test");
        self.cluster.handle_frame(self.now, CONN, frame);
        let mut answer = Answer {
            body: None,
            closed: None,
        };
        for out in self.drain() {
            match out {
                Output::Send { bytes, .. } => {
                    assert!(answer.body.is_none(), "one response per request");
                    let (h, body) = decode_response_frame(bytes.slice(4..), key, version).unwrap();
                    assert_eq!(h.correlation_id, self.correlation);
                    answer.body = Some(body);
                }
                Output::Close { reason, .. } => answer.closed = Some(reason),
                other => panic!("unexpected output {other:?}"),
            }
        }
        answer
    }

    /// Sends a raw SASL token (after a v0 handshake); the raw answer frame.
    fn raw(&mut self, token: &[u8]) -> Answer2 {
        self.cluster
            .handle_frame(self.now, CONN, Bytes::copy_from_slice(token));
        let mut a = Answer2::default();
        for out in self.drain() {
            match out {
                Output::Send { bytes, .. } => {
                    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
                    assert_eq!(len, bytes.len() - 4, "size prefix matches");
                    a.token = Some(bytes[4..].to_vec());
                }
                Output::Close { reason, .. } => a.closed = Some(reason),
                other => panic!("unexpected output {other:?}"),
            }
        }
        a
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.cluster.poll_output()).collect()
    }

    fn handshake(
        &mut self,
        version: i16,
        mechanism: &str,
    ) -> (SaslHandshakeResponse, Option<String>) {
        let a = self.call(
            version,
            SaslHandshakeRequest::default().with_mechanism(mechanism.into()),
        );
        let Some(ResponseBody::SaslHandshake(r)) = a.body else {
            panic!("no handshake response: {a:?}")
        };
        (r, a.closed)
    }

    fn authenticate(
        &mut self,
        version: i16,
        token: &[u8],
    ) -> (SaslAuthenticateResponse, Option<String>) {
        let a = self.call(
            version,
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
        );
        let Some(ResponseBody::SaslAuthenticate(r)) = a.body else {
            panic!("no authenticate response: {a:?}")
        };
        (r, a.closed)
    }

    fn metadata(&mut self) -> Answer {
        self.call(12, MetadataRequest::default().with_topics(None))
    }
}

#[derive(Debug, Default)]
struct Answer2 {
    token: Option<Vec<u8>>,
    closed: Option<String>,
}

// --- A SCRAM client, written from RFC 5802 for the tests. ---

fn hmac(sha512: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    if sha512 {
        let mut m = Hmac::<Sha512>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
}

fn h(sha512: bool, data: &[u8]) -> Vec<u8> {
    if sha512 {
        Sha512::digest(data).to_vec()
    } else {
        Sha256::digest(data).to_vec()
    }
}

/// The client-final message and the server signature it should get back.
fn scram_client_final(
    sha512: bool,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> (String, String) {
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iterations = 0u32;
    for attr in server_first.split(',') {
        match attr.split_at(2) {
            ("r=", v) => nonce = v,
            ("s=", v) => salt = BASE64.decode(v).unwrap(),
            ("i=", v) => iterations = v.parse().unwrap(),
            _ => {}
        }
    }
    let mut u = hmac(
        sha512,
        password.as_bytes(),
        &[salt.as_slice(), &[0, 0, 0, 1]].concat(),
    );
    let mut salted = u.clone();
    for _ in 1..iterations {
        u = hmac(sha512, password.as_bytes(), &u);
        salted.iter_mut().zip(&u).for_each(|(s, x)| *s ^= x);
    }
    let client_key = hmac(sha512, &salted, b"Client Key");
    let stored_key = h(sha512, &client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(sha512, &stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(sha512, &salted, b"Server Key");
    let server_signature = hmac(sha512, &server_key, auth.as_bytes());
    (
        format!("{without_proof},p={}", BASE64.encode(proof)),
        format!("v={}", BASE64.encode(server_signature)),
    )
}

fn scram_over_v1(mechanism: SaslMechanism, version: i16) {
    let sha512 = mechanism == SaslMechanism::ScramSha512;
    let mut t = Harness::new();
    t.cluster.add_sasl_user(mechanism, "bob", "hunter2");
    let (r, closed) = t.handshake(1, mechanism.name());
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(r.mechanisms, vec![mechanism.name().to_string()]);

    let bare = "n=bob,r=clientnonce123";
    let (r, closed) = t.authenticate(version, format!("n,,{bare}").as_bytes());
    assert_eq!((r.error_code, closed), (0, None));
    let server_first = String::from_utf8(r.auth_bytes.to_vec()).unwrap();
    assert!(
        server_first.starts_with("r=clientnonce123"),
        "{server_first}"
    );
    assert!(server_first.len() > "r=clientnonce123".len() + 10);
    assert!(server_first.ends_with(",i=4096"));

    let (final_msg, expected) = scram_client_final(sha512, "hunter2", bare, &server_first);
    let (r, closed) = t.authenticate(version, final_msg.as_bytes());
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(String::from_utf8(r.auth_bytes.to_vec()).unwrap(), expected);
    assert_eq!(r.session_lifetime_ms, 0);

    let a = t.metadata();
    assert!(matches!(a.body, Some(ResponseBody::Metadata(_))), "{a:?}");
    assert_eq!(a.closed, None);
}

#[test]
fn scram_sha_256_full_exchange() {
    scram_over_v1(SaslMechanism::ScramSha256, 2);
}

#[test]
fn scram_sha_512_full_exchange() {
    scram_over_v1(SaslMechanism::ScramSha512, 1);
}

#[test]
fn scram_sha_256_rfc7677_vector_through_the_cluster() {
    let mut t = Harness::new();
    let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    t.cluster
        .add_sasl_user_with_salt(SaslMechanism::ScramSha256, "user", "pencil", &salt);
    t.cluster
        .set_sasl_server_nonce(Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"));
    let (r, _) = t.handshake(1, "SCRAM-SHA-256");
    assert_eq!(r.error_code, 0);
    let (r, _) = t.authenticate(0, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(r.error_code, 0);
    assert_eq!(
        &r.auth_bytes[..],
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let (r, closed) = t.authenticate(
        0,
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(
        &r.auth_bytes[..],
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
}

#[test]
fn scram_wrong_password_fails_and_closes() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::ScramSha256, "bob", "hunter2");
    t.handshake(1, "SCRAM-SHA-256");
    let bare = "n=bob,r=abc";
    let (r, _) = t.authenticate(2, format!("n,,{bare}").as_bytes());
    let server_first = String::from_utf8(r.auth_bytes.to_vec()).unwrap();
    let (final_msg, _) = scram_client_final(false, "wrong", bare, &server_first);
    let (r, closed) = t.authenticate(2, final_msg.as_bytes());
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    let message = r.error_message.unwrap();
    assert!(message.contains("invalid credentials"), "{message}");
    assert!(!message.contains("wrong"));
    assert!(closed.is_some(), "closed after the failed response");
}

#[test]
fn scram_rejects_unknown_user_channel_binding_and_bad_nonce() {
    for (first, what) in [
        ("n,,n=nobody,r=abc", "unknown user"),
        ("p=tls-unique,,n=bob,r=abc", "channel binding"),
        ("n,,n=bob", "missing nonce"),
        ("n,a=other,n=bob,r=abc", "different authzid"),
        ("n,,n=b=4Fb,r=abc", "bad saslname escape"),
        ("n,,n=b\u{1}b,r=abc", "control character"),
    ] {
        let mut t = Harness::new();
        t.cluster
            .add_sasl_user(SaslMechanism::ScramSha256, "bob", "hunter2");
        t.handshake(1, "SCRAM-SHA-256");
        let (r, closed) = t.authenticate(2, first.as_bytes());
        assert_eq!(
            r.error_code,
            ErrorCode::SaslAuthenticationFailed.code(),
            "{what}"
        );
        assert!(closed.is_some(), "{what}");
    }
    // A client-final echoing another nonce fails too.
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::ScramSha256, "bob", "hunter2");
    t.handshake(1, "SCRAM-SHA-256");
    t.authenticate(2, b"y,a=bob,n=bob,r=abc");
    let (r, closed) = t.authenticate(2, b"c=eSxhPWJvYiw=,r=abcX,p=AAAA");
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert!(closed.is_some());
}

#[test]
fn plain_over_v1_then_requests_are_served() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.cluster
        .add_sasl_user(SaslMechanism::ScramSha512, "alice", "other");
    let a = t.call(3, ApiVersionsRequest::default());
    assert!(matches!(a.body, Some(ResponseBody::ApiVersions(_))));
    let (r, closed) = t.handshake(1, "PLAIN");
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(
        r.mechanisms,
        vec!["PLAIN".to_string(), "SCRAM-SHA-512".to_string()]
    );
    let (r, closed) = t.authenticate(2, b"alice\0alice\0s3cret");
    assert_eq!((r.error_code, closed), (0, None));
    assert!(r.auth_bytes.is_empty());
    assert_eq!(r.session_lifetime_ms, 0);
    assert!(matches!(t.metadata().body, Some(ResponseBody::Metadata(_))));
    // Authenticated: a new handshake is an illegal state, not a close.
    let (r, closed) = t.handshake(1, "PLAIN");
    assert_eq!(
        (r.error_code, closed),
        (ErrorCode::IllegalSaslState.code(), None)
    );
    let (r, closed) = t.authenticate(2, b"\0alice\0s3cret");
    assert_eq!(
        (r.error_code, closed),
        (ErrorCode::IllegalSaslState.code(), None)
    );
}

#[test]
fn plain_wrong_password_fails_and_closes() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.handshake(1, "PLAIN");
    let (r, closed) = t.authenticate(1, b"\0alice\0nope");
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert_eq!(
        r.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(closed.unwrap().contains("SASL authentication failed"));
    assert!(t.cluster.poll_output().is_none());
}

#[test]
fn plain_rejects_malformed_tokens_and_foreign_authzid() {
    for token in [
        &b"alice\0s3cret"[..],
        b"bob\0alice\0s3cret",
        b"\0\0s3cret",
        b"\0alice\0",
    ] {
        let mut t = Harness::new();
        t.cluster
            .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
        t.handshake(1, "PLAIN");
        let (r, closed) = t.authenticate(2, token);
        assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
        assert!(closed.is_some());
    }
}

#[test]
fn unauthenticated_requests_close_the_connection() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    let a = t.metadata();
    assert!(a.body.is_none());
    assert!(a.closed.unwrap().contains("before SASL authentication"));

    // After a handshake only SaslAuthenticate is allowed.
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.handshake(1, "PLAIN");
    let a = t.call(3, ApiVersionsRequest::default());
    assert!(a.body.is_none() && a.closed.is_some());

    // SaslAuthenticate without a handshake.
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    let a = t.call(
        2,
        SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0s3cret")),
    );
    assert!(a.body.is_none() && a.closed.is_some());
}

#[test]
fn unsupported_mechanism_lists_enabled_and_closes() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::ScramSha256, "bob", "pw");
    let (r, closed) = t.handshake(1, "PLAIN");
    assert_eq!(r.error_code, ErrorCode::UnsupportedSaslMechanism.code());
    assert_eq!(r.mechanisms, vec!["SCRAM-SHA-256".to_string()]);
    assert!(closed.is_some());

    let mut t = Harness::new();
    t.cluster.add_sasl_user(SaslMechanism::Plain, "a", "pw");
    let (r, closed) = t.handshake(1, "scram-sha-256");
    assert_eq!(r.error_code, ErrorCode::UnsupportedSaslMechanism.code());
    assert!(closed.is_some());
}

#[test]
fn without_users_sasl_requests_answer_illegal_state() {
    let mut t = Harness::new();
    let (r, closed) = t.handshake(1, "PLAIN");
    assert_eq!(
        (r.error_code, closed),
        (ErrorCode::IllegalSaslState.code(), None)
    );
    assert!(r.mechanisms.is_empty());
    let (r, closed) = t.authenticate(2, b"\0a\0b");
    assert_eq!(
        (r.error_code, closed),
        (ErrorCode::IllegalSaslState.code(), None)
    );
    assert!(matches!(t.metadata().body, Some(ResponseBody::Metadata(_))));
}

#[test]
fn v0_handshake_plain_raw_token() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    let (r, _) = t.handshake(0, "PLAIN");
    assert_eq!(r.error_code, 0);
    let a = t.raw(b"\0alice\0s3cret");
    assert_eq!(a.closed, None);
    assert_eq!(a.token.as_deref(), Some(&[][..]), "an empty token frame");
    // Back to Kafka frames.
    assert!(matches!(t.metadata().body, Some(ResponseBody::Metadata(_))));
}

#[test]
fn v0_handshake_scram_raw_tokens_and_failure() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::ScramSha512, "bob", "hunter2");
    t.handshake(0, "SCRAM-SHA-512");
    let bare = "n=bob,r=rawnonce";
    let a = t.raw(format!("n,,{bare}").as_bytes());
    let server_first = String::from_utf8(a.token.unwrap()).unwrap();
    let (final_msg, expected) = scram_client_final(true, "hunter2", bare, &server_first);
    let a = t.raw(final_msg.as_bytes());
    assert_eq!(String::from_utf8(a.token.unwrap()).unwrap(), expected);
    assert!(matches!(t.metadata().body, Some(ResponseBody::Metadata(_))));

    // A bad raw token just closes (v0 has no way to carry an error).
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.handshake(0, "PLAIN");
    let a = t.raw(b"\0alice\0wrong");
    assert!(a.token.is_none());
    assert!(a.closed.is_some());
}

#[test]
fn injected_errors_answer_then_close() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.cluster.inject_error(ErrorInjection::new(
        ApiKey::SaslAuthenticate,
        ErrorCode::SaslAuthenticationFailed,
        1,
    ));
    t.handshake(1, "PLAIN");
    let (r, closed) = t.authenticate(2, b"\0alice\0s3cret");
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert!(closed.is_some());

    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.cluster.inject_error(ErrorInjection::new(
        ApiKey::SaslHandshake,
        ErrorCode::IllegalSaslState,
        1,
    ));
    let (r, closed) = t.handshake(1, "PLAIN");
    assert_eq!(r.error_code, ErrorCode::IllegalSaslState.code());
    assert!(closed.is_some());
}

#[test]
fn failed_response_with_latency_is_sent_before_the_close() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::Plain, "alice", "s3cret");
    t.handshake(1, "PLAIN");
    t.cluster
        .set_api_latency(ApiKey::SaslAuthenticate, Duration::from_millis(50));
    let a = t.call(
        2,
        SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0alice\0bad")),
    );
    assert!(
        a.body.is_none() && a.closed.is_none(),
        "held back by latency"
    );
    t.now += Duration::from_millis(50);
    t.cluster.handle_timeout(t.now);
    let out = t.drain();
    assert!(
        matches!(out.as_slice(), [Output::Send { .. }, Output::Close { .. }]),
        "{out:?}"
    );
}

#[test]
fn plain_over_tcp() {
    let mock = MockCluster::builder()
        .sasl_user(SaslMechanism::Plain, "alice", "s3cret")
        .build()
        .unwrap();
    let mut s = TcpStream::connect(mock.brokers()[0].1).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut call = |correlation: i32, version: i16, body: RequestBody| -> ResponseBody {
        let key = body.api_key();
        let header = RequestHeader::default()
            .with_request_api_key(key.id())
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some("tcp".into()));
        let mut buf = BytesMut::new();
        encode_request_frame(&header, &body, &mut buf).unwrap();
        s.write_all(&buf).unwrap();
        let mut size = [0u8; 4];
        s.read_exact(&mut size).unwrap();
        let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
        s.read_exact(&mut frame).unwrap();
        decode_response_frame(Bytes::from(frame), key, version)
            .unwrap()
            .1
    };
    let r = call(
        1,
        1,
        SaslHandshakeRequest::default()
            .with_mechanism("PLAIN".into())
            .into(),
    );
    assert!(
        matches!(r, ResponseBody::SaslHandshake(ref h) if h.error_code == 0),
        "{r:?}"
    );
    let r = call(
        2,
        2,
        SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\0alice\0s3cret"))
            .into(),
    );
    assert!(
        matches!(r, ResponseBody::SaslAuthenticate(ref a) if a.error_code == 0),
        "{r:?}"
    );
    let r = call(3, 12, MetadataRequest::default().with_topics(None).into());
    assert!(matches!(r, ResponseBody::Metadata(_)));
}

#[test]
fn oauthbearer_accepts_a_configured_token() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::OAuthBearer, "svc", "tok.en-1");
    assert!(t.metadata().closed.is_some(), "unauthenticated");
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::OAuthBearer, "svc", "tok.en-1");
    let (r, closed) = t.handshake(1, "OAUTHBEARER");
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(r.mechanisms, vec!["OAUTHBEARER".to_string()]);
    let (r, closed) = t.authenticate(2, b"n,,\x01auth=Bearer tok.en-1\x01\x01");
    assert_eq!((r.error_code, closed), (0, None));
    assert!(r.auth_bytes.is_empty());
    assert!(matches!(t.metadata().body, Some(ResponseBody::Metadata(_))));
}

#[test]
fn oauthbearer_bad_token_gets_the_error_challenge_then_fails() {
    let mut t = Harness::new();
    t.cluster
        .add_sasl_user(SaslMechanism::OAuthBearer, "svc", "good");
    t.handshake(1, "OAUTHBEARER");
    let (r, closed) = t.authenticate(2, b"n,,\x01auth=Bearer bad\x01\x01");
    assert_eq!((r.error_code, closed), (0, None));
    assert_eq!(&r.auth_bytes[..], br#"{"status":"invalid_token"}"#);
    let (r, closed) = t.authenticate(2, b"\x01");
    assert_eq!(r.error_code, ErrorCode::SaslAuthenticationFailed.code());
    assert!(closed.is_some());
}

#[test]
fn oauthbearer_rejects_malformed_messages() {
    for bad in [
        &b"auth=Bearer good"[..],
        b"n,,\x01auth=Bearer good\x01",
        b"n,,\x01auth=Basic good\x01\x01",
        b"n,,\x01auth=Bearer \x01\x01",
        b"x,,\x01auth=Bearer good\x01\x01",
        b"\xff\x01\x01",
    ] {
        let mut t = Harness::new();
        t.cluster
            .add_sasl_user(SaslMechanism::OAuthBearer, "svc", "good");
        t.handshake(1, "OAUTHBEARER");
        let (r, closed) = t.authenticate(2, bad);
        assert_eq!(
            r.error_code,
            ErrorCode::SaslAuthenticationFailed.code(),
            "{bad:?}"
        );
        assert!(closed.is_some());
    }
}
