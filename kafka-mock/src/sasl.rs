//! SASL server side: PLAIN and SCRAM-SHA-256/512.

use bytes::Bytes;
use kafka_proto::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_proto::ApiKey;

use crate::cluster::{Cluster, ConnId, Reply};
use crate::Ctx;

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
}

/// Users and mechanisms; empty means no authentication is required.
#[derive(Debug, Default, Clone)]
pub(crate) struct SaslConfig {}

/// A server-side SCRAM exchange in progress.
#[derive(Debug)]
pub(crate) struct ScramServer {}

/// Whether `key` may be served on `conn` given its authentication state.
pub(crate) fn allowed(_cluster: &Cluster, _conn: ConnId, _key: ApiKey) -> bool {
    true
}

/// Handles a raw SASL token after a v0 handshake.
pub(crate) fn raw_token(
    _cluster: &mut Cluster,
    _conn: ConnId,
    _frame: Bytes,
) -> Result<Option<Bytes>, String> {
    Err("raw SASL tokens are not supported".into())
}

impl Cluster {
    pub(crate) fn sasl_handshake(&mut self, _ctx: &Ctx, _req: SaslHandshakeRequest) -> Reply {
        Reply::Close("SASL is not configured".into())
    }

    pub(crate) fn sasl_authenticate(&mut self, _ctx: &Ctx, _req: SaslAuthenticateRequest) -> Reply {
        Reply::Close("SASL is not configured".into())
    }
}

impl Cluster {
    /// Requires SASL and accepts `user` with `password` for `mechanism`.
    pub fn add_sasl_user(&mut self, _mechanism: SaslMechanism, _user: &str, _password: &str) {}
}
