//! SASL server side: PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802,
//! RFC 7677) and OAUTHBEARER (RFC 7628), over SaslHandshake v0 (raw
//! tokens) or v1 (SaslAuthenticate).
//!
//! OAUTHBEARER checks tokens the way an unsecured-token setup does in
//! spirit (KIP-255): no signature validation, a token is good if it is one
//! the test configured ([`Cluster::add_sasl_user`] with the token as the
//! password; the user is the principal it stands for). A bad token gets
//! the RFC 7628 error challenge `{"status":"invalid_token"}`; the client
//! acknowledges it with `0x01` and the exchange then fails.
//!
//! Behaviour follows Kafka's `SaslServerAuthenticator`:
//! - With no user configured the listener is plain: SaslHandshake and
//!   SaslAuthenticate answer ILLEGAL_SASL_STATE and the connection stays
//!   open, as Kafka's request handler does on a non-SASL listener.
//! - With users configured, a connection may send ApiVersions and
//!   SaslHandshake, then (after a v1 handshake) only SaslAuthenticate until
//!   authenticated; anything else closes the connection.
//! - An unsupported mechanism or a failed authentication is answered
//!   (UNSUPPORTED_SASL_MECHANISM with the enabled list, or
//!   SASL_AUTHENTICATION_FAILED with a message), then the connection closes.
//!   After a v0 handshake a failure just closes the connection.
//! - Once authenticated, SaslHandshake and SaslAuthenticate answer
//!   ILLEGAL_SASL_STATE (re-authentication, KIP-368, is not supported).
//!
//! Simplifications, all documented: SASLprep is limited to rejecting
//! control characters in user names (no Unicode normalisation; names and
//! passwords are compared as UTF-8 bytes, which is also what Kafka does);
//! SCRAM channel binding is refused (`p=`), only the `n` and `y` GS2 flags
//! are accepted; SCRAM extensions (such as `tokenauth`) are ignored;
//! `session_lifetime_ms` is always 0. Passwords and derived keys never
//! appear in logs, error messages or `Debug` output.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use kafka_proto::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_proto::{ApiKey, ErrorCode, ResponseBody};
use sha2::{Digest, Sha256, Sha512};

use crate::cluster::{Cluster, ConnId, Reply};
use crate::Ctx;

/// Iteration count of the SCRAM credentials the mock creates (Kafka's minimum).
pub(crate) const SCRAM_ITERATIONS: u32 = 4096;

/// A SASL mechanism the mock can authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616).
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
    /// OAUTHBEARER (RFC 7628) with tokens the test configured.
    OAuthBearer,
}

impl SaslMechanism {
    /// Every mechanism, in the order the enabled list is reported.
    const ALL: [SaslMechanism; 4] = [
        Self::Plain,
        Self::ScramSha256,
        Self::ScramSha512,
        Self::OAuthBearer,
    ];

    /// The name a client sends in SaslHandshake (`PLAIN`, `SCRAM-SHA-256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism with this exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    fn is_scram(self) -> bool {
        matches!(self, Self::ScramSha256 | Self::ScramSha512)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server keeps for one SCRAM user (RFC 5802 §2.2): never the password.
#[derive(Clone)]
struct ScramCredential {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl ScramCredential {
    fn new(mechanism: SaslMechanism, password: &str, salt: Vec<u8>, iterations: u32) -> Self {
        let salted = hi(mechanism, password.as_bytes(), &salt, iterations);
        let client_key = hmac(mechanism, &salted, b"Client Key");
        Self {
            stored_key: hash(mechanism, &client_key),
            server_key: hmac(mechanism, &salted, b"Server Key"),
            salt,
            iterations,
        }
    }
}

#[derive(Clone)]
enum Credential {
    Plain(String),
    Scram(ScramCredential),
}

/// Users and mechanisms; empty means no authentication is required.
#[derive(Default, Clone)]
pub(crate) struct SaslConfig {
    users: HashMap<(SaslMechanism, String), Credential>,
    /// Server part of every SCRAM nonce, for reproducible exchanges.
    fixed_nonce: Option<String>,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: credentials stay out of every log.
        let mut users: Vec<String> = self.users.keys().map(|(m, u)| format!("{m}:{u}")).collect();
        users.sort();
        f.debug_struct("SaslConfig")
            .field("users", &users)
            .field("fixed_nonce", &self.fixed_nonce.is_some())
            .finish()
    }
}

impl SaslConfig {
    fn is_enabled(&self) -> bool {
        !self.users.is_empty()
    }

    fn enabled(&self) -> Vec<SaslMechanism> {
        SaslMechanism::ALL
            .into_iter()
            .filter(|m| self.users.keys().any(|(um, _)| um == m))
            .collect()
    }

    fn enabled_names(&self) -> Vec<String> {
        self.enabled()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    fn server_nonce(&self) -> Result<String, String> {
        match &self.fixed_nonce {
            Some(n) => Ok(n.clone()),
            None => random_nonce(),
        }
    }
}

/// A server-side SCRAM exchange in progress: client-first received,
/// server-first sent, waiting for client-final.
pub(crate) struct ScramServer {
    mechanism: SaslMechanism,
    user: String,
    credential: ScramCredential,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Whether `key` may be served on `conn` given its authentication state.
///
/// Before authentication: ApiVersions and SaslHandshake until a mechanism
/// is chosen, then SaslAuthenticate only (its handler checks the state).
pub(crate) fn allowed(cluster: &Cluster, conn: ConnId, key: ApiKey) -> bool {
    if !cluster.sasl.is_enabled() {
        return true;
    }
    let Some(auth) = cluster.conn_auth_ref(conn) else {
        return true;
    };
    if auth.authenticated {
        return true;
    }
    match key {
        ApiKey::ApiVersions | ApiKey::SaslHandshake => auth.mechanism.is_none(),
        ApiKey::SaslAuthenticate => true,
        _ => false,
    }
}

/// Handles a raw SASL token after a v0 handshake: the answer is the raw
/// response token as a size-prefixed frame; an error closes the connection.
pub(crate) fn raw_token(
    cluster: &mut Cluster,
    conn: ConnId,
    frame: Bytes,
) -> Result<Option<Bytes>, String> {
    let (token, complete) =
        evaluate(cluster, conn, &frame).map_err(|e| format!("SASL authentication failed: {e}"))?;
    if complete {
        if let Some(auth) = cluster.conn_auth(conn) {
            auth.raw_tokens = false;
        }
    }
    let len = u32::try_from(token.len()).map_err(|_| "SASL token too large".to_string())?;
    let mut buf = BytesMut::with_capacity(4 + token.len());
    buf.put_u32(len);
    buf.put_slice(&token);
    Ok(Some(buf.freeze()))
}

/// Runs one step of the chosen mechanism on `token`: the response token
/// and whether authentication is now complete, or why it failed (a message
/// safe to send to the client).
fn evaluate(cluster: &mut Cluster, conn: ConnId, token: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let auth = cluster
        .conn_auth(conn)
        .ok_or_else(|| "connection is gone".to_string())?;
    let mechanism = auth
        .mechanism
        .as_deref()
        .and_then(SaslMechanism::from_name)
        .ok_or_else(|| "no SASL mechanism was chosen".to_string())?;
    let pending = auth.scram.take();
    if mechanism == SaslMechanism::OAuthBearer {
        let failed_before = std::mem::take(&mut auth.oauth_failed);
        if failed_before {
            return Err("Authentication failed: invalid OAuth bearer token".into());
        }
        let Some(user) = check_oauth(&cluster.sasl, token)? else {
            if let Some(auth) = cluster.conn_auth(conn) {
                auth.oauth_failed = true;
            }
            return Ok((br#"{"status":"invalid_token"}"#.to_vec(), false));
        };
        if let Some(auth) = cluster.conn_auth(conn) {
            auth.authenticated = true;
        }
        tracing::info!(target: "kafka_mock::sasl", conn = conn.0, %mechanism, user = %user, "authenticated");
        return Ok((Vec::new(), true));
    }
    let (response, complete, user, next) = match (mechanism, pending) {
        (SaslMechanism::Plain, _) => {
            let user = check_plain(&cluster.sasl, token)?;
            (Vec::new(), true, user, None)
        }
        (m, None) => {
            let nonce = cluster.sasl.server_nonce()?;
            let server = scram_client_first(&cluster.sasl, m, token, &nonce)?;
            let first = server.server_first.clone().into_bytes();
            let user = server.user.clone();
            (first, false, user, Some(server))
        }
        (_, Some(server)) => {
            let fin = server.client_final(token)?;
            (fin.into_bytes(), true, server.user, None)
        }
    };
    if let Some(auth) = cluster.conn_auth(conn) {
        auth.scram = next;
        if complete {
            auth.authenticated = true;
            tracing::info!(target: "kafka_mock::sasl", conn = conn.0, %mechanism, user = %user, "authenticated");
        }
    }
    Ok((response, complete))
}

/// Parses an RFC 7628 client initial response
/// (`gs2-header 0x01 auth=Bearer <token> 0x01 ... 0x01`): the user the token
/// stands for, `None` for an unknown token, or why the message is malformed.
fn check_oauth(config: &SaslConfig, message: &[u8]) -> Result<Option<String>, String> {
    let malformed = || "Invalid OAUTHBEARER client first message".to_string();
    let text = std::str::from_utf8(message).map_err(|_| malformed())?;
    let (gs2, rest) = text.split_once('\x01').ok_or_else(malformed)?;
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) || !rest.ends_with("\x01\x01") {
        return Err(malformed());
    }
    let token = rest
        .split('\x01')
        .find_map(|kv| kv.strip_prefix("auth="))
        .and_then(|a| a.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
        .ok_or_else(malformed)?;
    Ok(config.users.iter().find_map(|((m, user), c)| match c {
        Credential::Plain(t)
            if *m == SaslMechanism::OAuthBearer && ct_eq(t.as_bytes(), token.as_bytes()) =>
        {
            Some(user.clone())
        }
        _ => None,
    }))
}

/// Verifies a PLAIN token (`authzid NUL authcid NUL passwd`); the user on success.
fn check_plain(config: &SaslConfig, token: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(token)
        .map_err(|_| "Invalid SASL/PLAIN response: not UTF-8".to_string())?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = parts.as_slice() else {
        return Err(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        ));
    };
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    match config.users.get(&(SaslMechanism::Plain, user.to_string())) {
        Some(Credential::Plain(expected)) if ct_eq(expected.as_bytes(), password.as_bytes()) => {
            Ok(user.to_string())
        }
        _ => Err("Authentication failed: Invalid username or password".into()),
    }
}

/// Parses a SCRAM client-first message and builds the server-first answer.
fn scram_client_first(
    config: &SaslConfig,
    mechanism: SaslMechanism,
    token: &[u8],
    server_nonce: &str,
) -> Result<ScramServer, String> {
    let malformed = || format!("Invalid {mechanism} client-first message");
    let text = std::str::from_utf8(token).map_err(|_| malformed())?;
    let (flag, rest) = text.split_once(',').ok_or_else(malformed)?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => {
            return Err(format!("{mechanism}: channel binding is not supported"));
        }
        _ => return Err(malformed()),
    }
    let (authzid, bare) = rest.split_once(',').ok_or_else(malformed)?;
    let authzid = match authzid {
        "" => None,
        a => Some(
            decode_saslname(a.strip_prefix("a=").ok_or_else(malformed)?).ok_or_else(malformed)?,
        ),
    };
    let gs2_header = &text[..text.len() - bare.len()];
    let mut attrs = bare.split(',');
    let first = attrs.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(format!(
            "{mechanism}: mandatory extensions are not supported"
        ));
    }
    let user =
        decode_saslname(first.strip_prefix("n=").ok_or_else(malformed)?).ok_or_else(malformed)?;
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .filter(|n| valid_nonce(n))
        .ok_or_else(malformed)?;
    // Remaining attributes are extensions (KIP-84: `tokenauth=...`): ignored.
    if authzid.as_ref().is_some_and(|a| *a != user) {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username"
                .into(),
        );
    }
    let credential = match config.users.get(&(mechanism, user.clone())) {
        Some(Credential::Scram(c)) => c.clone(),
        _ => return Err("Authentication failed: Invalid user credentials".into()),
    };
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&credential.salt),
        credential.iterations
    );
    Ok(ScramServer {
        mechanism,
        user,
        credential,
        gs2_header: gs2_header.to_string(),
        client_first_bare: bare.to_string(),
        server_first,
        nonce,
    })
}

impl ScramServer {
    /// Verifies the client-final message; the server-final message on success.
    fn client_final(&self, token: &[u8]) -> Result<String, String> {
        let mechanism = self.mechanism;
        let malformed = || format!("Invalid {mechanism} client-final message");
        let text = std::str::from_utf8(token).map_err(|_| malformed())?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(malformed)?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .and_then(|c| BASE64.decode(c).ok())
            .ok_or_else(malformed)?;
        if binding != self.gs2_header.as_bytes() {
            return Err(format!("{mechanism}: channel binding data does not match"));
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(malformed)?;
        if nonce != self.nonce {
            return Err(format!(
                "{mechanism}: Invalid client nonce in the final client message"
            ));
        }
        let proof = BASE64.decode(proof).map_err(|_| malformed())?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let c = &self.credential;
        let signature = hmac(mechanism, &c.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(malformed());
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if !ct_eq(&hash(mechanism, &client_key), &c.stored_key) {
            return Err(format!(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
            ));
        }
        let server_signature = hmac(mechanism, &c.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// Decodes a SCRAM `saslname` (`=2C` is `,`, `=3D` is `=`) and applies the
/// mock's limited SASLprep: no control characters, not empty.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(rest.get(..i)?);
        let esc = rest.get(i..i + 3)?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = rest.get(i + 3..)?;
    }
    out.push_str(rest);
    (!out.is_empty() && !out.chars().any(char::is_control)).then_some(out)
}

/// RFC 5802 `printable` without the comma, and not empty.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

fn random_nonce() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness for the SCRAM nonce: {e}"))?;
    Ok(raw
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// A fresh salt; falls back to one derived from the user name if the
/// system has no randomness (acceptable for a mock).
fn random_salt(mechanism: SaslMechanism, user: &str) -> Vec<u8> {
    let mut salt = [0u8; 16];
    match getrandom::fill(&mut salt) {
        Ok(()) => salt.to_vec(),
        Err(_) => hash(mechanism, user.as_bytes())
            .into_iter()
            .take(16)
            .collect(),
    }
}

/// Compares in time independent of where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash(mechanism: SaslMechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        SaslMechanism::ScramSha512 => Sha512::digest(data).to_vec(),
        _ => Sha256::digest(data).to_vec(),
    }
}

fn hmac(mechanism: SaslMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match mechanism {
        SaslMechanism::ScramSha512 => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// RFC 5802 `Hi()`: PBKDF2 with HMAC and an output of one hash length.
fn hi(mechanism: SaslMechanism, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(mechanism, password, &block);
    let mut out = u.clone();
    for _ in 1..iterations {
        u = hmac(mechanism, password, &u);
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out
}

impl Cluster {
    pub(crate) fn sasl_handshake(&mut self, ctx: &Ctx, req: SaslHandshakeRequest) -> Reply {
        let answer = |code: ErrorCode, mechanisms: Vec<String>| {
            Reply::Respond(ResponseBody::SaslHandshake(
                SaslHandshakeResponse::default()
                    .with_error_code(code.code())
                    .with_mechanisms(mechanisms),
            ))
        };
        if !self.sasl.is_enabled() {
            // What Kafka answers on a listener without SASL.
            return answer(ErrorCode::IllegalSaslState, Vec::new());
        }
        let (authenticated, chosen) = match self.conn_auth_ref(ctx.conn) {
            Some(a) => (a.authenticated, a.mechanism.is_some()),
            None => return Reply::Nothing,
        };
        if authenticated {
            return answer(ErrorCode::IllegalSaslState, Vec::new());
        }
        if chosen {
            return Reply::Close("SaslHandshake during SASL authentication".into());
        }
        let enabled = self.sasl.enabled_names();
        if let Some(code) = self
            .faults
            .take(ApiKey::SaslHandshake, ctx.broker, None, None)
        {
            self.close_after_response(ctx.conn, format!("injected SaslHandshake error {code:?}"));
            return answer(code, enabled);
        }
        let mechanism =
            SaslMechanism::from_name(&req.mechanism).filter(|m| self.sasl.enabled().contains(m));
        let Some(mechanism) = mechanism else {
            tracing::info!(target: "kafka_mock::sasl", conn = ctx.conn.0, mechanism = %req.mechanism, "unsupported SASL mechanism");
            self.close_after_response(
                ctx.conn,
                format!("unsupported SASL mechanism {:?}", req.mechanism),
            );
            return answer(ErrorCode::UnsupportedSaslMechanism, enabled);
        };
        if let Some(auth) = self.conn_auth(ctx.conn) {
            auth.mechanism = Some(mechanism.name().to_string());
            auth.raw_tokens = ctx.version == 0;
        }
        answer(ErrorCode::None, enabled)
    }

    pub(crate) fn sasl_authenticate(&mut self, ctx: &Ctx, req: SaslAuthenticateRequest) -> Reply {
        let answer = |code: ErrorCode, message: Option<String>, bytes: Vec<u8>| {
            Reply::Respond(ResponseBody::SaslAuthenticate(
                SaslAuthenticateResponse::default()
                    .with_error_code(code.code())
                    .with_error_message(message)
                    .with_auth_bytes(Bytes::from(bytes))
                    .with_session_lifetime_ms(0),
            ))
        };
        let state = self
            .conn_auth_ref(ctx.conn)
            .map(|a| (a.authenticated, a.mechanism.is_some() && !a.raw_tokens));
        let (authenticated, ready) = match state {
            Some(s) => s,
            None => return Reply::Nothing,
        };
        if !self.sasl.is_enabled() || authenticated {
            return answer(
                ErrorCode::IllegalSaslState,
                Some("SaslAuthenticate request received after successful authentication".into()),
                Vec::new(),
            );
        }
        if !ready {
            return Reply::Close("SaslAuthenticate before a v1 SaslHandshake".into());
        }
        if let Some(code) = self
            .faults
            .take(ApiKey::SaslAuthenticate, ctx.broker, None, None)
        {
            self.close_after_response(
                ctx.conn,
                format!("injected SaslAuthenticate error {code:?}"),
            );
            return answer(code, Some(code.description().to_string()), Vec::new());
        }
        match evaluate(self, ctx.conn, &req.auth_bytes) {
            Ok((bytes, _complete)) => answer(ErrorCode::None, None, bytes),
            Err(message) => {
                tracing::info!(target: "kafka_mock::sasl", conn = ctx.conn.0, reason = %message, "SASL authentication failed");
                self.close_after_response(
                    ctx.conn,
                    format!("SASL authentication failed: {message}"),
                );
                answer(
                    ErrorCode::SaslAuthenticationFailed,
                    Some(message),
                    Vec::new(),
                )
            }
        }
    }

    fn close_after_response(&mut self, conn: ConnId, reason: String) {
        if let Some(auth) = self.conn_auth(conn) {
            auth.close_after_response = Some(reason);
        }
    }
}

impl Cluster {
    /// Requires SASL and accepts `user` with `password` for `mechanism`
    /// (SCRAM users get a random salt and 4096 iterations). Adding a user
    /// again replaces the password. For OAUTHBEARER, `password` is a bearer
    /// token the mock accepts and `user` the principal it stands for.
    pub fn add_sasl_user(&mut self, mechanism: SaslMechanism, user: &str, password: &str) {
        let salt = random_salt(mechanism, user);
        self.add_sasl_user_with_salt(mechanism, user, password, &salt);
    }

    /// As [`Cluster::add_sasl_user`], with a chosen SCRAM salt (ignored
    /// for PLAIN), so an exchange can be checked against known vectors.
    pub fn add_sasl_user_with_salt(
        &mut self,
        mechanism: SaslMechanism,
        user: &str,
        password: &str,
        salt: &[u8],
    ) {
        let credential = if mechanism.is_scram() {
            Credential::Scram(ScramCredential::new(
                mechanism,
                password,
                salt.to_vec(),
                SCRAM_ITERATIONS,
            ))
        } else {
            Credential::Plain(password.to_string())
        };
        self.sasl
            .users
            .insert((mechanism, user.to_string()), credential);
    }

    /// Makes the server part of every SCRAM nonce `nonce` instead of a
    /// random one (`None` restores random nonces): for reproducible
    /// exchanges in tests and simulations only. `nonce` must be printable
    /// ASCII without commas; anything else is ignored.
    pub fn set_sasl_server_nonce(&mut self, nonce: Option<&str>) {
        self.sasl.fixed_nonce = nonce.filter(|n| valid_nonce(n)).map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_scram_sha_256_vector() {
        let mut config = SaslConfig::default();
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        config.users.insert(
            (SaslMechanism::ScramSha256, "user".into()),
            Credential::Scram(ScramCredential::new(
                SaslMechanism::ScramSha256,
                "pencil",
                salt,
                4096,
            )),
        );
        let server = scram_client_first(
            &config,
            SaslMechanism::ScramSha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            server.server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let fin = server
            .client_final(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(fin, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn saslname_escapes_and_controls() {
        assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_saslname("a=2"), None);
        assert_eq!(decode_saslname("a=41"), None);
        assert_eq!(decode_saslname("a\u{7}b"), None);
        assert_eq!(decode_saslname("a\u{85}b"), None);
        assert_eq!(decode_saslname(""), None);
        assert_eq!(decode_saslname("é").as_deref(), Some("é"));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut config = SaslConfig::default();
        config.users.insert(
            (SaslMechanism::Plain, "alice".into()),
            Credential::Plain("s3cret-pw".into()),
        );
        let text = format!("{config:?}");
        assert!(text.contains("alice"));
        assert!(!text.contains("s3cret-pw"));
    }
}
