//! TLS as a sans-IO layer (feature `tls`): a rustls `ClientConnection` per
//! broker connection sits between the socket's bytes and Kafka frames, so
//! every adapter gets the same TLS without touching it.
//!
//! With [`Config::tls`](crate::Config::tls) set, the bytes an adapter
//! passes to [`Client::handle_recv`](crate::Client::handle_recv) are
//! ciphertext: the client consumes all of them, decrypts into its own
//! per-connection buffer and cuts frames from that. Every
//! [`Transmit`](crate::Transmit) carries ciphertext. The handshake starts
//! at [`Client::handle_connected`](crate::Client::handle_connected) and
//! counts against `connection_setup_timeout`; a TLS failure (an untrusted
//! or expired certificate, a name mismatch, an alert from the broker)
//! closes the connection with
//! [`DisconnectReason::Tls`].
//!
//! Crypto is rustls with its `ring` provider (no cmake or C toolchain
//! beyond `cc`). Default trust roots are Mozilla's, compiled in through
//! `webpki-roots`: reading the platform's store would be I/O, which this
//! core does not do; an adapter that wants it passes those roots as PEM.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::{DisconnectReason, Misuse};
use crate::sasl::Secret;

/// TLS settings ([`Config::tls`](crate::Config::tls)). Verification of
/// the broker's certificate and name is on unless
/// [`TlsConfig::dangerous_disable_verification`] turns it off. `Debug`
/// output never shows the private key.
#[derive(Clone, Default)]
pub struct TlsConfig {
    server_name: Option<String>,
    ca_pem: Option<Vec<u8>>,
    client_cert: Option<(Vec<u8>, Secret<Vec<u8>>)>,
    no_verify: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field("ca_pem_bytes", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "client_cert",
                &self.client_cert.as_ref().map(|_| "<key redacted>"),
            )
            .field("verify", &!self.no_verify)
            .finish()
    }
}

impl TlsConfig {
    /// Verifies brokers against Mozilla's root certificates
    /// (`webpki-roots`), each under the host name it is reached by.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificates in this PEM bundle (a private CA).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Verifies every broker under this name instead of the host name in
    /// its address (useful when brokers are reached by IP or through a
    /// proxy). Also sent as SNI.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Presents this client certificate (PEM chain, leaf first) and its
    /// private key (PEM, PKCS#8, PKCS#1 or SEC1) for mutual TLS.
    pub fn with_client_cert_pem(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some((cert_chain_pem.into(), Secret(key_pem.into())));
        self
    }

    /// Accepts any certificate under any name: the connection is
    /// encrypted but the broker is not authenticated, so anyone on the
    /// path can impersonate it. For tests and throwaway clusters only.
    pub fn dangerous_disable_verification(mut self) -> Self {
        self.no_verify = true;
        self
    }

    /// The rustls configuration, or why these settings are unusable.
    pub(crate) fn build(&self) -> Result<Arc<ClientConfig>, Misuse> {
        let bad =
            |what: &str, e: &dyn fmt::Display| Misuse::InvalidTlsConfig(format!("{what}: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?;
        if let Some(name) = &self.server_name {
            ServerName::try_from(name.as_str()).map_err(|e| bad("server name", &e))?;
        }
        let builder = if self.no_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            match &self.ca_pem {
                Some(pem) => {
                    for cert in CertificateDer::pem_slice_iter(pem) {
                        let cert = cert.map_err(|e| bad("CA bundle", &e))?;
                        roots.add(cert).map_err(|e| bad("CA certificate", &e))?;
                    }
                    if roots.is_empty() {
                        return Err(bad("CA bundle", &"no certificate in the PEM"));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots)
        };
        let config = match &self.client_cert {
            Some((chain, key)) => {
                let certs = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("client certificate", &e))?;
                if certs.is_empty() {
                    return Err(bad("client certificate", &"no certificate in the PEM"));
                }
                // The key's parse error is not shown: it could quote the key.
                let key = PrivateKeyDer::from_pem_slice(&key.0).map_err(|_| {
                    Misuse::InvalidTlsConfig("client key: no usable private key in the PEM".into())
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| bad("client certificate and key", &e))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// The name to verify a broker reached at `host` under.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>, DisconnectReason> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_string())
            .map_err(|e| DisconnectReason::Tls(format!("invalid server name {name:?}: {e}")))
    }
}

/// Accepts every certificate but still checks handshake signatures, so
/// the session is at least bound to the key the peer presented.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_error(e: impl fmt::Display) -> DisconnectReason {
    DisconnectReason::Tls(e.to_string())
}

/// One connection's TLS session and the plaintext it decrypted but the
/// connection has not yet framed.
pub(crate) struct TlsLayer {
    session: ClientConnection,
    plaintext: BytesMut,
    /// A write that failed; reported by the next read.
    failed: Option<DisconnectReason>,
}

impl fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayer")
            .field("handshaking", &self.session.is_handshaking())
            .field("plaintext", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl TlsLayer {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, DisconnectReason> {
        let mut session = ClientConnection::new(config, name).map_err(tls_error)?;
        // Everything written is drained at once, so rustls need not cap it.
        session.set_buffer_limit(None);
        Ok(Self {
            session,
            plaintext: BytesMut::new(),
            failed: None,
        })
    }

    /// Encrypts `plaintext` (buffered by rustls until the handshake is
    /// done); returns the TLS bytes to send now, maybe none.
    pub(crate) fn seal(&mut self, plaintext: &[u8]) -> Bytes {
        if let Err(e) = self.session.writer().write_all(plaintext) {
            self.failed.get_or_insert(tls_error(e));
        }
        self.drain()
    }

    /// TLS bytes rustls wants sent (handshake messages, sealed records).
    pub(crate) fn drain(&mut self) -> Bytes {
        let mut out = Vec::new();
        while self.session.wants_write() {
            match self.session.write_tls(&mut out) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.failed.get_or_insert(tls_error(e));
                    break;
                }
            }
        }
        Bytes::from(out)
    }

    /// Consumes all of `ciphertext`, appending what it decrypts to the
    /// plaintext buffer; returns TLS bytes to send in answer.
    pub(crate) fn open(&mut self, ciphertext: &mut BytesMut) -> Result<Bytes, DisconnectReason> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut rest = &ciphertext[..];
        while !rest.is_empty() {
            let n = self.session.read_tls(&mut rest).map_err(tls_error)?;
            let state = self.session.process_new_packets().map_err(tls_error)?;
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = self.plaintext.len();
                self.plaintext.resize(start + available, 0);
                self.session
                    .reader()
                    .read_exact(&mut self.plaintext[start..])
                    .map_err(tls_error)?;
            }
            if n == 0 {
                break;
            }
        }
        ciphertext.clear();
        Ok(self.drain())
    }

    /// The decrypted bytes not yet cut into frames.
    pub(crate) fn plaintext(&mut self) -> &mut BytesMut {
        &mut self.plaintext
    }
}
