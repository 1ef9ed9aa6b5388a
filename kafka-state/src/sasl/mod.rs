//! SASL authentication of every new connection: after ApiVersions, a
//! SaslHandshake (v1) names the mechanism, then SaslAuthenticate requests
//! carry its messages until the broker accepts or refuses.
//!
//! Mechanisms: PLAIN (RFC 4616), SCRAM-SHA-256 and SCRAM-SHA-512
//! (RFC 5802, RFC 7677; the client checks the broker's signature, so an
//! impostor that does not know the credential is detected), and
//! OAUTHBEARER (RFC 7628), whose token comes from the application: the
//! client reports [`Event::OAuthTokenRequired`](crate::Event::OAuthTokenRequired)
//! and connections wait in setup (bounded by `connection_setup_timeout`)
//! until [`Client::set_oauth_token`](crate::Client::set_oauth_token)
//! answers, so the token source may be as slow and asynchronous as it likes.
//!
//! A refused authentication closes the connection with
//! [`DisconnectReason::Authentication`](crate::DisconnectReason::Authentication)
//! in [`Event::ConnectionLost`](crate::Event::ConnectionLost); the broker
//! then goes into reconnect backoff like any failed broker. It is not fatal
//! for the client: credentials may be fixed on the broker side, and a token
//! may be refreshed.
//!
//! Not supported: SaslHandshake v0 (raw tokens, brokers before 1.0),
//! re-authentication (KIP-368: `session_lifetime_ms` is ignored),
//! SASLprep normalisation of SCRAM user names and passwords (they are sent
//! as given, which matches what Kafka itself does), SCRAM extensions and
//! OAUTHBEARER SASL extensions.
//!
//! Passwords and tokens never appear in `Debug` output, logs or errors.

mod scram;
pub(crate) use scram::salted_password;

use std::fmt;
use std::time::{Duration, Instant};

use kafka_proto::ErrorCode;

use crate::error::Misuse;
use crate::rng::Rng;
use scram::{ScramClient, ScramHash};

/// A value kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret<T>(pub(crate) T);

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A SASL mechanism the client can authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616): user and password in clear; use it over TLS only.
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER (RFC 7628) with a bearer token from the application.
    OAuthBearer,
}

impl SaslMechanism {
    /// The name sent in SaslHandshake (`PLAIN`, `SCRAM-SHA-256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SASL settings ([`Config::sasl`](crate::Config::sasl)). Its `Debug`
/// output shows the mechanism and user, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    mechanism: SaslMechanism,
    user: String,
    password: Secret<String>,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SaslConfig");
        d.field("mechanism", &self.mechanism);
        if self.mechanism != SaslMechanism::OAuthBearer {
            d.field("user", &self.user)
                .field("password", &self.password);
        }
        d.finish()
    }
}

impl SaslConfig {
    fn with_password(
        mechanism: SaslMechanism,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            mechanism,
            user: user.into(),
            password: Secret(password.into()),
        }
    }

    /// PLAIN with a user name and password.
    pub fn plain(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_password(SaslMechanism::Plain, user, password)
    }

    /// SCRAM-SHA-256 with a user name and password.
    pub fn scram_sha256(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_password(SaslMechanism::ScramSha256, user, password)
    }

    /// SCRAM-SHA-512 with a user name and password.
    pub fn scram_sha512(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::with_password(SaslMechanism::ScramSha512, user, password)
    }

    /// OAUTHBEARER: tokens come from the application through
    /// [`Client::set_oauth_token`](crate::Client::set_oauth_token) when
    /// [`Event::OAuthTokenRequired`](crate::Event::OAuthTokenRequired) asks.
    pub fn oauthbearer() -> Self {
        Self::with_password(SaslMechanism::OAuthBearer, "", "")
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user name (empty for OAUTHBEARER).
    pub fn user(&self) -> &str {
        &self.user
    }

    pub(crate) fn validate(&self) -> Result<(), Misuse> {
        if self.mechanism == SaslMechanism::OAuthBearer {
            return Ok(());
        }
        if self.user.is_empty() || self.password.0.is_empty() {
            return Err(Misuse::InvalidConfig(
                "SASL user and password must not be empty",
            ));
        }
        // PLAIN separates its fields with NUL; SCRAM forbids it too.
        if self.user.contains('\0') || self.password.0.contains('\0') {
            return Err(Misuse::InvalidConfig(
                "SASL user and password must not contain NUL",
            ));
        }
        Ok(())
    }
}

/// Why SASL authentication failed. Reported as
/// [`DisconnectReason::Authentication`](crate::DisconnectReason::Authentication).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The broker does not enable the configured mechanism.
    #[error("the broker does not enable SASL mechanism {mechanism}; it enables {enabled:?}")]
    MechanismNotEnabled {
        /// The configured mechanism.
        mechanism: SaslMechanism,
        /// What the broker enables.
        enabled: Vec<String>,
    },
    /// The broker refused the credentials or token.
    #[error("{mechanism} authentication failed: {message}")]
    Failed {
        /// The mechanism.
        mechanism: SaslMechanism,
        /// The broker's explanation.
        message: String,
    },
    /// SaslHandshake or SaslAuthenticate answered with another error
    /// (`ILLEGAL_SASL_STATE` from a listener without SASL, for example).
    #[error("SASL exchange refused by the broker: {0:?}")]
    Broker(ErrorCode),
    /// The broker lacks SaslHandshake v1 or SaslAuthenticate.
    #[error("the broker does not support SaslHandshake v1 and SaslAuthenticate")]
    Unsupported,
    /// The SCRAM server signature did not verify: the peer does not hold
    /// the credential, so it may not be the real broker.
    #[error("the broker's SCRAM signature is wrong")]
    ServerSignature,
    /// The broker sent a SASL message that does not parse.
    #[error("malformed SASL message from the broker: {0}")]
    Malformed(&'static str),
}

/// An OAuth bearer token and when it stops being used for new connections.
#[derive(Debug, Clone)]
pub(crate) struct OAuthToken {
    value: Secret<String>,
    expires: Instant,
}

/// The client's OAUTHBEARER token and its pending request.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    token: Option<OAuthToken>,
    /// When [`Event::OAuthTokenRequired`](crate::Event::OAuthTokenRequired)
    /// was last reported, so it is not repeated for every connection.
    requested_at: Option<Instant>,
}

impl OAuthState {
    /// The token, if one is set and still valid at `now`.
    pub(crate) fn token(&self, now: Instant) -> Option<&str> {
        self.token
            .as_ref()
            .filter(|t| t.expires > now)
            .map(|t| t.value.0.as_str())
    }

    /// Stores a token after checking it is an RFC 6750 `b64token`.
    pub(crate) fn set(
        &mut self,
        now: Instant,
        token: String,
        lifetime: Duration,
    ) -> Result<(), Misuse> {
        let body = token.trim_end_matches('=');
        let valid = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if !valid {
            return Err(Misuse::InvalidOAuthToken(
                "not an RFC 6750 bearer token (letters, digits, -._~+/ then =)",
            ));
        }
        if lifetime.is_zero() {
            return Err(Misuse::InvalidOAuthToken("lifetime must be positive"));
        }
        self.token = Some(OAuthToken {
            value: Secret(token),
            expires: now + lifetime,
        });
        self.requested_at = None;
        Ok(())
    }

    /// Whether to report a new token request now: not if one was reported
    /// within `repeat_after` (a connection setup timeout) and not answered.
    pub(crate) fn should_request(&mut self, now: Instant, repeat_after: Duration) -> bool {
        match self.requested_at {
            Some(at) if now < at + repeat_after => false,
            _ => {
                self.requested_at = Some(now);
                true
            }
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// SaslHandshake sent.
    Handshake,
    /// OAUTHBEARER waits for the application's token.
    WaitingToken,
    /// SaslAuthenticate sent; the mechanism's state.
    Exchange(Exchange),
}

#[derive(Debug)]
enum Exchange {
    /// PLAIN and OAUTHBEARER: one message, then the broker's verdict.
    Single,
    /// OAUTHBEARER after the broker sent an error challenge: the client
    /// acknowledged it and waits for the failure.
    OAuthError(String),
    Scram(ScramClient),
}

/// What the connection does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these bytes in a SaslAuthenticate request.
    Send(Vec<u8>),
    /// Wait for an OAuth token.
    NeedToken,
    /// Authenticated.
    Done,
}

/// One connection's SASL exchange.
#[derive(Debug)]
pub(crate) struct SaslSession {
    config: SaslConfig,
    nonce: String,
    phase: Phase,
}

impl SaslSession {
    /// A session for a connection; `nonce_seed` seeds the SCRAM nonce.
    pub(crate) fn new(config: &SaslConfig, nonce_seed: u64) -> Self {
        Self {
            config: config.clone(),
            nonce: nonce(nonce_seed),
            phase: Phase::Handshake,
        }
    }

    pub(crate) fn mechanism(&self) -> SaslMechanism {
        self.config.mechanism
    }

    pub(crate) fn waits_for_token(&self) -> bool {
        matches!(self.phase, Phase::WaitingToken)
    }

    /// The SaslHandshake answer: on success the first message to send (or
    /// a wait for the token).
    pub(crate) fn handshake_done(
        &mut self,
        error: ErrorCode,
        enabled: Vec<String>,
        token: Option<&str>,
    ) -> Result<Step, AuthError> {
        if !matches!(self.phase, Phase::Handshake) {
            return Err(AuthError::Malformed("unexpected SaslHandshake response"));
        }
        match error {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                return Err(AuthError::MechanismNotEnabled {
                    mechanism: self.config.mechanism,
                    enabled,
                })
            }
            code => return Err(AuthError::Broker(code)),
        }
        self.phase = Phase::WaitingToken;
        self.start(token)
    }

    /// The first mechanism message, once the handshake is done and (for
    /// OAUTHBEARER) a token is at hand.
    pub(crate) fn start(&mut self, token: Option<&str>) -> Result<Step, AuthError> {
        if !matches!(self.phase, Phase::WaitingToken) {
            return Err(AuthError::Malformed("SASL exchange started twice"));
        }
        let c = &self.config;
        let (exchange, first) = match c.mechanism {
            SaslMechanism::Plain => {
                let msg = format!("\0{}\0{}", c.user, c.password.0);
                (Exchange::Single, msg.into_bytes())
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let hash = if c.mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let (scram, first) =
                    ScramClient::start(c.mechanism, hash, &c.user, &c.password, self.nonce.clone());
                (Exchange::Scram(scram), first)
            }
            SaslMechanism::OAuthBearer => {
                let Some(token) = token else {
                    return Ok(Step::NeedToken);
                };
                (Exchange::Single, oauth_initial_response(token))
            }
        };
        self.phase = Phase::Exchange(exchange);
        Ok(Step::Send(first))
    }

    /// A SaslAuthenticate answer.
    pub(crate) fn authenticate_done(
        &mut self,
        error: ErrorCode,
        message: Option<String>,
        bytes: &[u8],
    ) -> Result<Step, AuthError> {
        let mechanism = self.config.mechanism;
        let Phase::Exchange(exchange) = &mut self.phase else {
            return Err(AuthError::Malformed("unexpected SaslAuthenticate response"));
        };
        match error {
            ErrorCode::None => {}
            ErrorCode::SaslAuthenticationFailed => {
                let challenge = match exchange {
                    Exchange::OAuthError(text) => Some(std::mem::take(text)),
                    _ => None,
                };
                let message = message
                    .filter(|m| !m.is_empty())
                    .or(challenge)
                    .unwrap_or_else(|| "no reason given".to_string());
                return Err(AuthError::Failed { mechanism, message });
            }
            code => return Err(AuthError::Broker(code)),
        }
        match exchange {
            Exchange::Single if bytes.is_empty() || mechanism == SaslMechanism::Plain => {
                Ok(Step::Done)
            }
            Exchange::Single => {
                // RFC 7628 §3.2.2: an OAUTHBEARER error challenge (JSON) is
                // acknowledged with a lone 0x01; the broker then fails.
                let text = String::from_utf8_lossy(bytes).chars().take(512).collect();
                *exchange = Exchange::OAuthError(text);
                Ok(Step::Send(vec![0x01]))
            }
            Exchange::OAuthError(_) => Err(AuthError::Malformed(
                "OAUTHBEARER exchange continued after an error",
            )),
            Exchange::Scram(scram) => Ok(match scram.next(bytes)? {
                Some(msg) => Step::Send(msg),
                None => Step::Done,
            }),
        }
    }
}

/// RFC 7628 client initial response without authzid or extensions.
fn oauth_initial_response(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// 24 random bytes from the seed, base64: printable and comma-free.
fn nonce(seed: u64) -> String {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine as _;
    let mut rng = Rng::new(seed);
    let bytes: Vec<u8> = (0..3).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
    STANDARD_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_and_verdicts() {
        let mut s = SaslSession::new(&SaslConfig::plain("alice", "pw"), 1);
        let step = s.handshake_done(ErrorCode::None, vec![], None).unwrap();
        assert_eq!(step, Step::Send(b"\0alice\0pw".to_vec()));
        assert_eq!(
            s.authenticate_done(ErrorCode::None, None, b""),
            Ok(Step::Done)
        );

        let mut s = SaslSession::new(&SaslConfig::plain("alice", "pw"), 1);
        s.handshake_done(ErrorCode::None, vec![], None).unwrap();
        let r = s.authenticate_done(
            ErrorCode::SaslAuthenticationFailed,
            Some("bad password".into()),
            b"",
        );
        assert_eq!(
            r,
            Err(AuthError::Failed {
                mechanism: SaslMechanism::Plain,
                message: "bad password".into()
            })
        );
    }

    #[test]
    fn handshake_errors() {
        let mut s = SaslSession::new(&SaslConfig::scram_sha512("a", "b"), 1);
        let r = s.handshake_done(
            ErrorCode::UnsupportedSaslMechanism,
            vec!["PLAIN".into()],
            None,
        );
        assert_eq!(
            r,
            Err(AuthError::MechanismNotEnabled {
                mechanism: SaslMechanism::ScramSha512,
                enabled: vec!["PLAIN".into()]
            })
        );
        let mut s = SaslSession::new(&SaslConfig::plain("a", "b"), 1);
        let r = s.handshake_done(ErrorCode::IllegalSaslState, vec![], None);
        assert_eq!(r, Err(AuthError::Broker(ErrorCode::IllegalSaslState)));
        // A response out of turn.
        let mut s = SaslSession::new(&SaslConfig::plain("a", "b"), 1);
        assert!(s.authenticate_done(ErrorCode::None, None, b"").is_err());
    }

    #[test]
    fn oauth_waits_for_a_token_and_acknowledges_an_error_challenge() {
        let mut s = SaslSession::new(&SaslConfig::oauthbearer(), 1);
        assert_eq!(
            s.handshake_done(ErrorCode::None, vec![], None),
            Ok(Step::NeedToken)
        );
        assert!(s.waits_for_token());
        let step = s.start(Some("abc.def")).unwrap();
        assert_eq!(
            step,
            Step::Send(b"n,,\x01auth=Bearer abc.def\x01\x01".to_vec())
        );
        let r = s.authenticate_done(ErrorCode::None, None, br#"{"status":"invalid_token"}"#);
        assert_eq!(r, Ok(Step::Send(vec![1])));
        let r = s.authenticate_done(ErrorCode::SaslAuthenticationFailed, None, b"");
        assert_eq!(
            r,
            Err(AuthError::Failed {
                mechanism: SaslMechanism::OAuthBearer,
                message: r#"{"status":"invalid_token"}"#.into()
            })
        );
    }

    #[test]
    fn token_validation_expiry_and_request_dedup() {
        #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
        let t0 = Instant::now();
        let mut o = OAuthState::default();
        for bad in ["", "a b", "a\x01", "===", "é"] {
            assert!(
                o.set(t0, bad.into(), Duration::from_secs(1)).is_err(),
                "{bad:?}"
            );
        }
        assert!(o.set(t0, "tok".into(), Duration::ZERO).is_err());
        o.set(t0, "a-b.c_d~e+f/g==".into(), Duration::from_secs(10))
            .unwrap();
        assert_eq!(o.token(t0), Some("a-b.c_d~e+f/g=="));
        assert_eq!(o.token(t0 + Duration::from_secs(10)), None);
        let d = Duration::from_secs(5);
        assert!(o.should_request(t0, d));
        assert!(!o.should_request(t0 + Duration::from_secs(4), d));
        assert!(o.should_request(t0 + Duration::from_secs(5), d));
    }

    #[test]
    fn nonces_are_printable_distinct_and_seeded() {
        let a = nonce(1);
        assert_eq!(a, nonce(1));
        assert_ne!(a, nonce(2));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','));
    }

    #[test]
    fn debug_hides_the_password() {
        let c = SaslConfig::scram_sha256("alice", "hunter2-secret");
        let text = format!("{c:?}");
        assert!(text.contains("alice") && !text.contains("hunter2-secret"));
        assert!(SaslConfig::plain("", "x").validate().is_err());
        assert!(SaslConfig::plain("a\0", "x").validate().is_err());
        assert!(SaslConfig::oauthbearer().validate().is_ok());
    }
}
