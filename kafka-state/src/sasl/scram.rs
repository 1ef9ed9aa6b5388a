//! The client side of SCRAM (RFC 5802) with SHA-256 (RFC 7677) or SHA-512,
//! without channel binding (GS2 header `n,,`), as Kafka uses it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{AuthError, SaslMechanism, Secret};

/// Kafka brokers store SCRAM credentials with 4096 to 16384 iterations; a
/// larger count from a broker would only make the client burn CPU.
const MAX_ITERATIONS: u32 = 16_384;

/// The hash a SCRAM mechanism is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: `new_from_slice` never fails, and
        // an empty result would only fail the exchange, never panic.
        match self {
            Self::Sha256 => <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            Self::Sha512 => <Hmac<Sha512> as KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    /// RFC 5802 `Hi()`: PBKDF2 with this HMAC and one block of output.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => hi::<Hmac<Sha256>>(password, salt, iterations),
            Self::Sha512 => hi::<Hmac<Sha512>>(password, salt, iterations),
        }
    }
}

fn hi<M: Mac + KeyInit + Clone>(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
    // The keyed state is computed once and cloned for each round.
    let Ok(keyed) = <M as KeyInit>::new_from_slice(password) else {
        return Vec::new();
    };
    let mut u = keyed
        .clone()
        .chain_update(salt)
        .chain_update(1u32.to_be_bytes())
        .finalize()
        .into_bytes();
    let mut out = u.to_vec();
    for _ in 1..iterations {
        u = keyed.clone().chain_update(&u).finalize().into_bytes();
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out
}

/// SCRAM's `SaltedPassword` for a credential an administrator stores:
/// the broker derives its keys from it and never sees the password.
pub(crate) fn salted_password(
    sha512: bool,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let hash = if sha512 {
        ScramHash::Sha512
    } else {
        ScramHash::Sha256
    };
    hash.hi(password.as_bytes(), salt, iterations)
}

#[derive(Debug)]
enum Phase {
    /// Client-first sent; waiting for server-first.
    SentFirst {
        client_first_bare: String,
    },
    /// Client-final sent; waiting for server-final with this signature.
    SentFinal {
        server_signature: Secret<Vec<u8>>,
    },
    Done,
}

/// One SCRAM exchange from the client's side.
#[derive(Debug)]
pub(crate) struct ScramClient {
    hash: ScramHash,
    mechanism: SaslMechanism,
    password: Secret<String>,
    nonce: String,
    phase: Phase,
}

impl ScramClient {
    /// Starts an exchange; returns it and the client-first message.
    pub(crate) fn start(
        mechanism: SaslMechanism,
        hash: ScramHash,
        user: &str,
        password: &Secret<String>,
        nonce: String,
    ) -> (Self, Vec<u8>) {
        let client_first_bare = format!("n={},r={}", escape_user(user), nonce);
        let first = format!("n,,{client_first_bare}").into_bytes();
        let client = Self {
            hash,
            mechanism,
            password: password.clone(),
            nonce,
            phase: Phase::SentFirst { client_first_bare },
        };
        (client, first)
    }

    /// Takes the next server message: the client-final message to send,
    /// or `None` once the server's signature checked out.
    pub(crate) fn next(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        let text = std::str::from_utf8(server)
            .map_err(|_| AuthError::Malformed("SCRAM message is not UTF-8"))?;
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::SentFirst { client_first_bare } => {
                self.server_first(&client_first_bare, text).map(Some)
            }
            Phase::SentFinal { server_signature } => {
                self.server_final(&server_signature.0, text)?;
                Ok(None)
            }
            Phase::Done => Err(AuthError::Malformed(
                "SCRAM message after the exchange ended",
            )),
        }
    }

    fn server_first(&mut self, client_first_bare: &str, text: &str) -> Result<Vec<u8>, AuthError> {
        if text.starts_with("m=") {
            return Err(AuthError::Malformed(
                "SCRAM server-first has a mandatory extension",
            ));
        }
        let mut attrs = text.split(',');
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(AuthError::Malformed("SCRAM server-first has no nonce"))?;
        let salt = attrs
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .and_then(|s| BASE64.decode(s).ok())
            .ok_or(AuthError::Malformed("SCRAM server-first has no valid salt"))?;
        let iterations: u32 = attrs
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .and_then(|i| i.parse().ok())
            .ok_or(AuthError::Malformed(
                "SCRAM server-first has no valid iteration count",
            ))?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(AuthError::Malformed(
                "SCRAM iteration count out of range (1..=16384)",
            ));
        }
        // The server extends our nonce; anything else is a replay or a bug.
        if nonce.len() <= self.nonce.len()
            || !nonce.starts_with(&self.nonce)
            || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return Err(AuthError::Malformed(
                "SCRAM server nonce does not extend the client's",
            ));
        }
        let h = self.hash;
        let salted = h.hi(self.password.0.as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        // "biws" is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{text},{without_proof}");
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key");
        let server_signature = h.hmac(&server_key, auth_message.as_bytes());
        self.phase = Phase::SentFinal {
            server_signature: Secret(server_signature),
        };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    fn server_final(&self, expected: &[u8], text: &str) -> Result<(), AuthError> {
        if let Some(error) = text.strip_prefix("e=") {
            return Err(AuthError::Failed {
                mechanism: self.mechanism,
                message: format!("SCRAM server error: {error}"),
            });
        }
        let got = text
            .split(',')
            .next()
            .and_then(|v| v.strip_prefix("v="))
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(AuthError::Malformed("SCRAM server-final has no verifier"))?;
        if !ct_eq(&got, expected) {
            return Err(AuthError::ServerSignature);
        }
        Ok(())
    }
}

/// RFC 5802 `saslname`: `,` and `=` are escaped.
fn escape_user(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// Compares in time independent of where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn run(
        mechanism: SaslMechanism,
        hash: ScramHash,
        client_final: &str,
        server_final: &str,
    ) -> ScramClient {
        let (mut c, first) = ScramClient::start(
            mechanism,
            hash,
            "user",
            &Secret("pencil".to_string()),
            "rOprNGfwEbeRWgbNEkqO".to_string(),
        );
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert!(SERVER_FIRST.contains(SERVER_NONCE));
        let fin = c.next(SERVER_FIRST.as_bytes()).unwrap().unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), client_final);
        assert_eq!(c.next(server_final.as_bytes()), Ok(None));
        c
    }

    /// RFC 7677 section 3, byte for byte.
    #[test]
    fn rfc7677_sha256_vector() {
        run(
            SaslMechanism::ScramSha256,
            ScramHash::Sha256,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
    }

    /// The RFC 7677 inputs with SHA-512, computed independently with
    /// Python's `hashlib.pbkdf2_hmac` and `hmac` (which also reproduce the
    /// SHA-256 vector above).
    #[test]
    fn salted_password_is_pbkdf2() {
        // PBKDF2-HMAC-SHA256, "password", "salt", 4096 rounds, one block.
        let got = salted_password(false, "password", b"salt", 4096);
        let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert_eq!(salted_password(true, "password", b"salt", 4096).len(), 64);
    }

    #[test]
    fn sha512_vector() {
        run(
            SaslMechanism::ScramSha512,
            ScramHash::Sha512,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==",
            "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==",
        );
    }

    fn started() -> ScramClient {
        ScramClient::start(
            SaslMechanism::ScramSha256,
            ScramHash::Sha256,
            "user",
            &Secret("pencil".to_string()),
            "rOprNGfwEbeRWgbNEkqO".to_string(),
        )
        .0
    }

    #[test]
    fn a_wrong_server_signature_is_rejected() {
        let mut c = started();
        c.next(SERVER_FIRST.as_bytes()).unwrap();
        let forged = format!("v={}", BASE64.encode([0u8; 32]));
        assert_eq!(c.next(forged.as_bytes()), Err(AuthError::ServerSignature));
    }

    #[test]
    fn hostile_server_first_messages_are_rejected() {
        for bad in [
            "",
            "m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=AAAA,i=4096",
            "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=!!,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000",
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==",
        ] {
            let r = started().next(bad.as_bytes());
            assert!(matches!(r, Err(AuthError::Malformed(_))), "{bad:?}: {r:?}");
        }
        let r = started().next(&[0xff, 0xfe]);
        assert!(matches!(r, Err(AuthError::Malformed(_))));
    }

    #[test]
    fn server_error_and_user_escaping() {
        let mut c = started();
        c.next(SERVER_FIRST.as_bytes()).unwrap();
        let r = c.next(b"e=invalid-proof");
        assert!(matches!(r, Err(AuthError::Failed { .. })), "{r:?}");
        assert_eq!(escape_user("a,b=c"), "a=2Cb=3Dc");
    }
}
