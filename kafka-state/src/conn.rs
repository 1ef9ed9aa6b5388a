//! One broker connection: Connecting → Negotiating (ApiVersions) → Ready
//! → Closed. Framing, correlation ids, the in-flight FIFO and the
//! connection's timers live here; routing does not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_proto::frame::{
    decode_response_frame, encode_produce_frame, encode_request_frame, response_correlation_id,
    split_frame,
};
use kafka_proto::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_proto::{ApiKey, ErrorCode, RequestBody, ResponseBody};
use tracing::{debug, trace};

use crate::error::{DisconnectReason, NoCommonVersion, ProtocolError, RequestError};
use crate::router::{fit_version, Outbound, RequestId};
use crate::sasl::{AuthError, SaslConfig, SaslSession, Step};
use crate::stats::{ConnCounters, ConnState, RttWindow};
use crate::timer::{ConnTimer, TimerTable};
use crate::versions::{api_versions_version, VersionTable};
use crate::{Broker, ConnId};

const LOG: &str = "kafka_state::conn";

/// Software name and version sent in ApiVersions (v3+).
pub(crate) const SOFTWARE_NAME: &str = "kafka-rs";
pub(crate) const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Settings a connection needs, borrowed from the client's config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSettings<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) request_timeout: Duration,
    pub(crate) max_frame_size: usize,
    pub(crate) sasl: Option<&'a SaslConfig>,
    /// The client's seed, for SCRAM nonces.
    pub(crate) seed: u64,
    /// A valid OAUTHBEARER token, if the application gave one.
    pub(crate) oauth_token: Option<&'a str>,
}

#[derive(Debug)]
enum State {
    /// Waiting for the adapter to report the socket open.
    Connecting,
    /// ApiVersions sent; `retried` once the broker asked for an older one.
    Negotiating {
        retried: bool,
    },
    /// SASL in progress (SaslHandshake, then SaslAuthenticate rounds).
    Authenticating {
        table: VersionTable,
        sasl: SaslSession,
    },
    Ready(VersionTable),
}

/// Who waits for an in-flight request's response: the connection itself
/// for ApiVersions and SASL (SaslHandshake, SaslAuthenticate), or the
/// client request with this id.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    ApiVersions,
    Sasl,
    Request { id: RequestId },
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    /// `None` for ApiVersions, which the setup timer bounds.
    deadline: Option<Instant>,
    purpose: Purpose,
    /// When a request a round trip is measured for was sent (none for
    /// setup requests and fetches, which the broker may hold).
    sent: Option<Instant>,
}

/// Record sets at least this large go to the adapter as pieces of their
/// own instead of being copied into the Produce frame. Below it, the copy
/// costs less than the extra write of a separate piece.
const SHARED_BATCH: usize = 32 * 1024;

/// A request's bytes: one buffer, or a Produce frame in pieces, some of
/// which are the producer's batches themselves (see
/// [`kafka_proto::frame::encode_produce_frame`]).
#[derive(Debug)]
pub(crate) enum Wire {
    One(Bytes),
    Pieces(Vec<Bytes>),
}

impl Wire {
    /// As one buffer (a copy only for pieces, which only Produce has).
    fn into_bytes(self) -> Bytes {
        match self {
            Wire::One(b) => b,
            Wire::Pieces(p) => Bytes::from(p.concat()),
        }
    }
}

/// What a connection produced while reading.
#[derive(Debug)]
pub(crate) enum ConnOutput {
    /// ApiVersions done: requests may flow.
    Ready,
    /// Bytes to write (an ApiVersions retry, a SASL message).
    Transmit(Bytes),
    /// SASL OAUTHBEARER waits for the application's token.
    TokenRequired,
    /// A response for a sub-machine.
    Response {
        id: RequestId,
        body: Box<ResponseBody>,
    },
}

/// Why a request could not be put on this connection.
#[derive(Debug)]
pub(crate) enum SendError {
    Unsupported(NoCommonVersion),
    Encode(kafka_proto::EncodeError),
}

impl From<SendError> for RequestError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Unsupported(e) => RequestError::Unsupported(e),
            SendError::Encode(e) => RequestError::Encode(e),
        }
    }
}

/// How many correlation ids of unanswered requests a connection keeps to
/// recognise a broker's answer to one anyway: a broker that does answer
/// them does so in order, long before this many more are sent.
const UNANSWERED_KEPT: usize = 1024;

/// Whether the broker answers `body`: a Produce request with `acks=0`
/// gets no response, so it must not wait in the in-flight queue.
///
/// Some brokers answer it anyway (Tansu 0.6 does). Such an answer is
/// recognised by its correlation id (see [`Connection::unanswered`]) and
/// skipped, as librdkafka does, instead of failing the connection, which
/// would drop every request queued behind it.
pub(crate) fn expects_response(body: &RequestBody) -> bool {
    !matches!(body, RequestBody::Produce(p) if p.acks == 0)
}

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: ConnId,
    pub(crate) broker: Broker,
    state: State,
    in_flight: VecDeque<InFlight>,
    /// Correlation ids of the latest requests sent expecting no answer
    /// (acks=0 produce), oldest first; at most [`UNANSWERED_KEPT`].
    unanswered: VecDeque<i32>,
    next_correlation_id: i32,
    timers: TimerTable<ConnTimer>,
    /// What the connection counted, for [`crate::ClientStats`].
    pub(crate) counters: ConnCounters,
    pub(crate) rtt: RttWindow,
    /// TLS between the socket and the frames, when configured.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsLayer>,
}

impl Connection {
    /// A connection the adapter is asked to open now.
    pub(crate) fn new(id: ConnId, broker: Broker, now: Instant, setup_timeout: Duration) -> Self {
        let mut timers = TimerTable::default();
        timers.set(ConnTimer::Setup, now + setup_timeout);
        Self {
            id,
            broker,
            state: State::Connecting,
            in_flight: VecDeque::new(),
            unanswered: VecDeque::new(),
            next_correlation_id: 0,
            timers,
            counters: ConnCounters {
                connects: 1,
                ..ConnCounters::default()
            },
            rtt: RttWindow::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// Whether a Fetch is outstanding: the broker may hold it for
    /// `fetch_max_wait`, and whatever follows on this connection waits.
    pub(crate) fn holds_fetch(&self) -> bool {
        self.in_flight.iter().any(|f| f.api == ApiKey::Fetch)
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Ready, with room for one more request.
    pub(crate) fn can_send(&self, max_in_flight: usize) -> bool {
        self.is_ready() && self.in_flight.len() < max_in_flight
    }

    /// The finalized `transaction.version` level the broker reported,
    /// once ready.
    pub(crate) fn transaction_version(&self) -> Option<i16> {
        match &self.state {
            State::Ready(table) => Some(table.transaction_version()),
            _ => None,
        }
    }

    /// The negotiated version of `api`, once ready.
    pub(crate) fn version(&self, api: ApiKey) -> Option<i16> {
        match &self.state {
            State::Ready(table) => table.get(api),
            _ => None,
        }
    }

    /// Rebinds a bootstrap connection to the node id metadata gave it.
    pub(crate) fn set_broker(&mut self, broker: Broker) {
        self.broker = broker;
    }

    /// Puts TLS under this connection; call before `handle_connected`.
    #[cfg(feature = "tls")]
    pub(crate) fn set_tls(&mut self, layer: crate::tls::TlsLayer) {
        if matches!(self.state, State::Connecting) {
            self.tls = Some(layer);
        }
    }

    /// Where the connection is, for statistics.
    pub(crate) fn stats_state(&self) -> ConnState {
        match self.state {
            State::Connecting => ConnState::Connecting,
            State::Negotiating { .. } => ConnState::Negotiating,
            State::Authenticating { .. } => ConnState::Authenticating,
            State::Ready(_) => ConnState::Ready,
        }
    }

    /// Still waiting for the socket.
    #[cfg(feature = "tls")]
    pub(crate) fn is_connecting(&self) -> bool {
        matches!(self.state, State::Connecting)
    }

    /// Wire bytes for a request frame: encrypted under TLS (maybe none
    /// yet, while rustls holds them until the handshake is done).
    fn seal(&mut self, frame: Bytes) -> Bytes {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.seal(&frame);
        }
        frame
    }

    /// The socket is open: starts ApiVersions (under TLS, the first bytes
    /// are the ClientHello). Reporting it twice is ignored.
    pub(crate) fn handle_connected(&mut self, s: ConnSettings<'_>) -> Option<Bytes> {
        if !matches!(self.state, State::Connecting) {
            return None;
        }
        self.state = State::Negotiating { retried: false };
        debug!(target: LOG, conn = %self.id, broker = %self.broker, "connected, sending ApiVersions");
        self.send_api_versions(api_versions_version(), s)
    }

    fn send_api_versions(&mut self, version: i16, s: ConnSettings<'_>) -> Option<Bytes> {
        let body = ApiVersionsRequest::default()
            .with_client_software_name(SOFTWARE_NAME.into())
            .with_client_software_version(SOFTWARE_VERSION.into());
        self.encode(
            RequestBody::from(body),
            version,
            None,
            Purpose::ApiVersions,
            s,
        )
        .map(Wire::into_bytes)
        .ok()
    }

    /// Puts `req` on the wire in the negotiated version. The caller checked
    /// [`Connection::can_send`].
    pub(crate) fn send(
        &mut self,
        now: Instant,
        req: Outbound,
        s: ConnSettings<'_>,
    ) -> Result<Wire, SendError> {
        let api = req.body.api_key();
        let version = self
            .version(api)
            .filter(|&v| v >= crate::router::min_version(&req.body))
            .ok_or(SendError::Unsupported(NoCommonVersion {
                broker: self.broker,
                api,
            }))?;
        let mut body = req.body;
        fit_version(&mut body, version);
        let purpose = Purpose::Request { id: req.id };
        let deadline = Some(now + s.request_timeout);
        let answered = expects_response(&body);
        let sent = (api != ApiKey::Fetch).then_some(now);
        let wire = self
            .encode(body, version, deadline, purpose, s)
            .map_err(SendError::Encode)?;
        if let Some(entry) = self.in_flight.back_mut() {
            entry.sent = sent;
        }
        if !answered {
            // Nothing will come back: complete it at send.
            if let Some(entry) = self.in_flight.pop_back() {
                if self.unanswered.len() == UNANSWERED_KEPT {
                    self.unanswered.pop_front();
                }
                self.unanswered.push_back(entry.correlation_id);
            }
            self.update_request_timer();
        }
        Ok(wire)
    }

    /// Whether a Produce frame may go out in pieces: not under TLS, which
    /// seals the whole frame into records of its own anyway.
    fn shares_batches(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return false;
        }
        true
    }

    fn encode(
        &mut self,
        body: RequestBody,
        version: i16,
        deadline: Option<Instant>,
        purpose: Purpose,
        s: ConnSettings<'_>,
    ) -> Result<Wire, kafka_proto::EncodeError> {
        let api = body.api_key();
        let correlation_id = self.next_correlation_id;
        let header = RequestHeader::default()
            .with_request_api_key(api.id())
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(s.client_id.to_string()));
        let wire = match &body {
            RequestBody::Produce(p) if self.shares_batches() && has_large_batch(p) => {
                Wire::Pieces(encode_produce_frame(&header, p, SHARED_BATCH)?)
            }
            _ => {
                let mut buf = BytesMut::with_capacity(frame_capacity(&body));
                encode_request_frame(&header, &body, &mut buf)?;
                Wire::One(self.seal(buf.freeze()))
            }
        };
        self.next_correlation_id = correlation_id.checked_add(1).unwrap_or(0);
        trace!(target: LOG, conn = %self.id, %api, version, correlation_id, "request");
        self.in_flight.push_back(InFlight {
            correlation_id,
            api,
            version,
            deadline,
            purpose,
            sent: None,
        });
        self.counters.requests_sent += 1;
        self.update_request_timer();
        Ok(wire)
    }

    fn update_request_timer(&mut self) {
        let next = self.in_flight.iter().filter_map(|r| r.deadline).min();
        self.timers.set_opt(ConnTimer::Request, next);
    }

    /// Cuts whole frames off `buf` and decodes them, leaving a partial
    /// frame in place. Under TLS `buf` is ciphertext: all of it is
    /// consumed and partial frames wait in the TLS layer. An error means
    /// the connection must close.
    pub(crate) fn handle_recv(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            self.counters.bytes_received += buf.len() as u64;
            let reply = tls.open(buf)?;
            if !reply.is_empty() {
                out.push(ConnOutput::Transmit(reply));
            }
            let mut plaintext = std::mem::take(tls.plaintext());
            let result = self.handle_frames(now, &mut plaintext, s, out);
            if let Some(tls) = &mut self.tls {
                *tls.plaintext() = plaintext;
            }
            return result;
        }
        // A partial frame left in `buf` is counted once it is whole.
        let before = buf.len();
        let result = self.handle_frames(now, buf, s, out);
        self.counters.bytes_received += before.saturating_sub(buf.len()) as u64;
        result
    }

    fn handle_frames(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        while let Some(frame) = split_frame(buf, s.max_frame_size).map_err(ProtocolError::Frame)? {
            self.handle_frame(now, frame, s, out)?;
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        frame: Bytes,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        // An answer to a request that expects none (see `expects_response`)
        // is skipped; responses come in request order, so the ids sent
        // before it will not be answered any more either.
        if let Ok(got) = response_correlation_id(&frame) {
            if self.in_flight.front().map(|e| e.correlation_id) != Some(got) {
                if let Some(at) = self.unanswered.iter().position(|id| *id == got) {
                    self.unanswered.drain(..=at);
                    debug!(target: LOG, conn = %self.id, correlation_id = got, "broker answered an acks=0 request; skipped");
                    return Ok(());
                }
            }
        }
        // Stays queued until decoded, so a failure still reports it to its machine.
        let entry = *self.in_flight.front().ok_or(ProtocolError::Unsolicited)?;
        let got = response_correlation_id(&frame).map_err(|error| ProtocolError::Decode {
            api: entry.api,
            version: entry.version,
            error,
        })?;
        if got != entry.correlation_id {
            return Err(ProtocolError::CorrelationMismatch {
                expected: entry.correlation_id,
                got,
            }
            .into());
        }
        let version = match entry.purpose {
            // A broker that does not know our ApiVersions version answers
            // in v0 with UNSUPPORTED_VERSION; the error code comes first
            // in every version, right after the v0 header's correlation id.
            Purpose::ApiVersions
                if frame.get(4..6) == Some(&ErrorCode::UnsupportedVersion.code().to_be_bytes()) =>
            {
                0
            }
            _ => entry.version,
        };
        let (_, body) = decode_response_frame(frame, entry.api, version).map_err(|error| {
            ProtocolError::Decode {
                api: entry.api,
                version,
                error,
            }
        })?;
        self.in_flight.pop_front();
        self.update_request_timer();
        self.counters.responses += 1;
        if let Some(sent) = entry.sent {
            self.rtt.record(now.saturating_duration_since(sent));
        }
        if let Some(ms) = body.throttle_time_ms() {
            self.counters.throttle(ms);
        }
        trace!(target: LOG, conn = %self.id, api = %entry.api, version, correlation_id = got, "response");
        match (entry.purpose, body) {
            (Purpose::ApiVersions, ResponseBody::ApiVersions(resp)) => {
                self.handle_api_versions(resp, s, out)
            }
            (Purpose::Sasl, ResponseBody::SaslHandshake(r)) => {
                let step = match &mut self.state {
                    State::Authenticating { sasl, .. } => sasl.handshake_done(
                        ErrorCode::from_code(r.error_code),
                        r.mechanisms,
                        s.oauth_token,
                    ),
                    _ => return Err(ProtocolError::Unsolicited.into()),
                };
                self.sasl_step(step, s, out)
            }
            (Purpose::Sasl, ResponseBody::SaslAuthenticate(r)) => {
                let step = match &mut self.state {
                    State::Authenticating { sasl, .. } => sasl.authenticate_done(
                        ErrorCode::from_code(r.error_code),
                        r.error_message,
                        &r.auth_bytes,
                    ),
                    _ => return Err(ProtocolError::Unsolicited.into()),
                };
                self.sasl_step(step, s, out)
            }
            (Purpose::Request { id }, body) => {
                out.push(ConnOutput::Response {
                    id,
                    body: Box::new(body),
                });
                Ok(())
            }
            // decode_response_frame returns the body of the API asked for.
            (Purpose::ApiVersions | Purpose::Sasl, _) => Err(ProtocolError::Unsolicited.into()),
        }
    }

    fn handle_api_versions(
        &mut self,
        resp: ApiVersionsResponse,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        let State::Negotiating { retried } = self.state else {
            return Err(ProtocolError::Unsolicited.into());
        };
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => {
                let table =
                    VersionTable::negotiate(&resp.api_keys).with_features(&resp.finalized_features);
                match s.sasl {
                    Some(config) => self.start_sasl(table, config, s, out),
                    None => {
                        self.become_ready(table, out);
                        Ok(())
                    }
                }
            }
            ErrorCode::UnsupportedVersion if !retried => {
                // Retry with the newest version the broker listed.
                let theirs = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions.id())
                    .map_or(0, |k| k.max_version);
                let version = theirs.clamp(0, api_versions_version());
                debug!(target: LOG, conn = %self.id, version, "broker wants an older ApiVersions");
                self.state = State::Negotiating { retried: true };
                if let Some(bytes) = self.send_api_versions(version, s) {
                    out.push(ConnOutput::Transmit(bytes));
                }
                Ok(())
            }
            code => Err(ProtocolError::ApiVersions(code).into()),
        }
    }

    fn become_ready(&mut self, table: VersionTable, out: &mut Vec<ConnOutput>) {
        debug!(target: LOG, conn = %self.id, broker = %self.broker, "ready");
        self.state = State::Ready(table);
        self.timers.stop(ConnTimer::Setup);
        out.push(ConnOutput::Ready);
    }

    /// Sends SaslHandshake v1 naming the configured mechanism.
    fn start_sasl(
        &mut self,
        table: VersionTable,
        config: &SaslConfig,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        let handshake = table.get(ApiKey::SaslHandshake).filter(|v| *v >= 1);
        let (Some(version), Some(_)) = (handshake, table.get(ApiKey::SaslAuthenticate)) else {
            return Err(AuthError::Unsupported.into());
        };
        debug!(target: LOG, conn = %self.id, mechanism = %config.mechanism(), "SASL handshake");
        // Each connection gets its own nonce stream from the client's seed.
        let nonce_seed = s.seed ^ self.id.0.wrapping_mul(0xa076_1d64_78bd_642f);
        let sasl = SaslSession::new(config, nonce_seed);
        self.state = State::Authenticating { table, sasl };
        let body = SaslHandshakeRequest::default().with_mechanism(config.mechanism().name().into());
        if let Ok(wire) = self.encode(body.into(), version, None, Purpose::Sasl, s) {
            out.push(ConnOutput::Transmit(wire.into_bytes()));
        }
        Ok(())
    }

    /// Acts on what the SASL exchange asks for next.
    fn sasl_step(
        &mut self,
        step: Result<Step, AuthError>,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        match step? {
            Step::Send(auth_bytes) => {
                let version = self.version_during_setup(ApiKey::SaslAuthenticate);
                let body = SaslAuthenticateRequest::default().with_auth_bytes(auth_bytes.into());
                if let Ok(wire) = self.encode(body.into(), version, None, Purpose::Sasl, s) {
                    out.push(ConnOutput::Transmit(wire.into_bytes()));
                }
            }
            Step::NeedToken => out.push(ConnOutput::TokenRequired),
            Step::Done => {
                let state = std::mem::replace(&mut self.state, State::Connecting);
                if let State::Authenticating { table, sasl } = state {
                    debug!(target: LOG, conn = %self.id, mechanism = %sasl.mechanism(), "authenticated");
                    self.become_ready(table, out);
                }
            }
        }
        Ok(())
    }

    fn version_during_setup(&self, api: ApiKey) -> i16 {
        match &self.state {
            State::Authenticating { table, .. } | State::Ready(table) => {
                table.get(api).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Waits for an OAUTHBEARER token.
    pub(crate) fn waits_for_token(&self) -> bool {
        matches!(&self.state, State::Authenticating { sasl, .. } if sasl.waits_for_token())
    }

    /// The application gave a token (in `s`): starts the exchange of a
    /// connection that [waits for it](Connection::waits_for_token).
    pub(crate) fn handle_token(
        &mut self,
        s: ConnSettings<'_>,
        out: &mut Vec<ConnOutput>,
    ) -> Result<(), DisconnectReason> {
        let State::Authenticating { sasl, .. } = &mut self.state else {
            return Ok(());
        };
        if !sasl.waits_for_token() {
            return Ok(());
        }
        let step = sasl.start(s.oauth_token);
        self.sasl_step(step, s, out)
    }

    /// When [`Connection::handle_timeout`] has something to do.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Checks the setup and request timers; an error means close.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), DisconnectReason> {
        if self.timers.is_due(ConnTimer::Setup, now) {
            return Err(DisconnectReason::SetupTimeout);
        }
        if self.timers.is_due(ConnTimer::Request, now) {
            let api = self
                .in_flight
                .iter()
                .filter(|r| r.deadline.is_some_and(|d| d <= now))
                .map(|r| r.api)
                .next()
                .unwrap_or(ApiKey::ApiVersions);
            return Err(DisconnectReason::RequestTimeout { api });
        }
        Ok(())
    }

    /// Closes the connection, returning the requests that were waiting on it.
    pub(crate) fn close(self) -> impl Iterator<Item = RequestId> {
        self.in_flight.into_iter().filter_map(|r| match r.purpose {
            Purpose::Request { id } => Some(id),
            Purpose::ApiVersions | Purpose::Sasl => None,
        })
    }
}

fn has_large_batch(p: &kafka_proto::messages::ProduceRequest) -> bool {
    p.topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .any(|d| d.records.as_ref().is_some_and(|r| r.len() >= SHARED_BATCH))
}

/// Room to encode `body` into without growing: a Produce frame is mostly
/// its record batches, and growing a buffer by doubling up to them would
/// leave up to half again of their size unused for as long as the frame
/// waits to be written. Other requests are small and start empty.
fn frame_capacity(body: &RequestBody) -> usize {
    // Header, client id and per-level counts and ids stay well below these.
    const FRAME: usize = 256;
    const TOPIC: usize = 32;
    const PARTITION: usize = 16;
    match body {
        RequestBody::Produce(p) => {
            FRAME
                + p.transactional_id.as_ref().map_or(0, String::len)
                + p.topic_data
                    .iter()
                    .map(|t| {
                        TOPIC
                            + t.name.len()
                            + t.partition_data
                                .iter()
                                .map(|d| PARTITION + d.records.as_ref().map_or(0, Bytes::len))
                                .sum::<usize>()
                    })
                    .sum::<usize>()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proto::frame::{decode_request_frame, encode_response_frame};
    use kafka_proto::messages::api_versions_response::ApiVersion;

    fn settings() -> ConnSettings<'static> {
        ConnSettings {
            client_id: "test",
            request_timeout: Duration::from_secs(30),
            max_frame_size: 1 << 20,
            sasl: None,
            seed: 0,
            oauth_token: None,
        }
    }

    #[allow(clippy::disallowed_methods)] // a test needs some Instant to start from
    fn t0() -> Instant {
        Instant::now()
    }

    /// A Produce frame is encoded into the room reserved for it, whatever
    /// its shape and version: the buffer never grows (and so never holds
    /// unused capacity while it waits to be written).
    #[test]
    fn produce_frames_fit_the_room_reserved_for_them() {
        use kafka_proto::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_proto::messages::ProduceRequest;
        let shapes: [(usize, usize, usize, Option<&str>); 4] = [
            (1, 1, 1 << 20, None),
            (1, 1, 0, Some("a-transactional-id-of-some-length")),
            (3, 40, 5000, None),
            (20, 1, 100, Some("t")),
        ];
        for (topics, partitions, batch, txn) in shapes {
            let body: RequestBody = ProduceRequest::default()
                .with_transactional_id(txn.map(str::to_string))
                .with_topic_data(
                    (0..topics)
                        .map(|t| {
                            TopicProduceData::default()
                                .with_name(format!("topic-{t}-{}", "n".repeat(t * 10)))
                                .with_partition_data(
                                    (0..partitions)
                                        .map(|p| {
                                            PartitionProduceData::default()
                                                .with_index(p as i32)
                                                .with_records(Some(Bytes::from(vec![7u8; batch])))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                )
                .into();
            // Transactional ids came with v3.
            let from = if txn.is_some() { 3 } else { 0 };
            for version in ApiKey::Produce.versions().filter(|v| *v >= from) {
                let mut fitted = body.clone();
                fit_version(&mut fitted, version);
                let header = RequestHeader::default()
                    .with_request_api_key(ApiKey::Produce.id())
                    .with_request_api_version(version)
                    .with_client_id(Some("a-client-id".into()));
                let room = frame_capacity(&fitted);
                let mut buf = BytesMut::with_capacity(room);
                encode_request_frame(&header, &fitted, &mut buf).unwrap();
                assert_eq!(buf.capacity(), room, "v{version} {topics}x{partitions}");
                assert!(buf.len() <= room);
            }
        }
    }

    fn full_list() -> Vec<ApiVersion> {
        ApiKey::ALL
            .iter()
            .map(|k| {
                ApiVersion::default()
                    .with_api_key(k.id())
                    .with_min_version(*k.versions().start())
                    .with_max_version(*k.versions().end())
            })
            .collect()
    }

    /// The (api key, version, correlation id) of a request frame.
    fn request_of(mut wire: Bytes) -> (i16, i16, i32) {
        let frame = wire.split_off(4);
        let (h, _) = decode_request_frame(frame).unwrap();
        (h.request_api_key, h.request_api_version, h.correlation_id)
    }

    #[test]
    fn unsupported_version_falls_back_to_what_the_broker_lists() {
        let mut c = Connection::new(
            ConnId(1),
            Broker::Bootstrap(0),
            t0(),
            Duration::from_secs(5),
        );
        let first = c.handle_connected(settings()).unwrap();
        let (key, version, corr) = request_of(first);
        assert_eq!(key, ApiKey::ApiVersions.id());
        assert_eq!(version, api_versions_version());

        // An old broker answers in v0 with UNSUPPORTED_VERSION and its list,
        // where ApiVersions only goes up to v2.
        let list = vec![
            ApiVersion::default()
                .with_api_key(ApiKey::ApiVersions.id())
                .with_min_version(0)
                .with_max_version(2),
            ApiVersion::default()
                .with_api_key(ApiKey::Metadata.id())
                .with_min_version(0)
                .with_max_version(8),
        ];
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code())
            .with_api_keys(list.clone());
        encode_response_frame(corr, 0, &body.into(), &mut wire).unwrap();
        let mut out = Vec::new();
        c.handle_recv(t0(), &mut wire, settings(), &mut out)
            .unwrap();
        assert!(wire.is_empty());
        let [ConnOutput::Transmit(retry)] = &out[..] else {
            panic!("expected a retry, got {out:?}");
        };
        let (key, version, corr) = request_of(retry.clone());
        assert_eq!((key, version), (ApiKey::ApiVersions.id(), 2));
        assert!(!c.is_ready());

        // The v2 answer completes the handshake.
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default().with_api_keys(list);
        encode_response_frame(corr, 2, &body.into(), &mut wire).unwrap();
        out.clear();
        c.handle_recv(t0(), &mut wire, settings(), &mut out)
            .unwrap();
        assert!(matches!(&out[..], [ConnOutput::Ready]));
        assert_eq!(c.version(ApiKey::Metadata), Some(8));
        assert_eq!(c.poll_timeout(), None, "setup timer stops once ready");
    }

    #[test]
    fn a_second_unsupported_version_closes() {
        let mut c = Connection::new(ConnId(1), Broker::Node(3), t0(), Duration::from_secs(5));
        let mut corr = request_of(c.handle_connected(settings()).unwrap()).2;
        let mut out = Vec::new();
        for round in 0..2 {
            let mut wire = BytesMut::new();
            let body = ApiVersionsResponse::default()
                .with_error_code(ErrorCode::UnsupportedVersion.code());
            encode_response_frame(corr, 0, &body.into(), &mut wire).unwrap();
            let r = c.handle_recv(t0(), &mut wire, settings(), &mut out);
            if round == 0 {
                r.unwrap();
                let Some(ConnOutput::Transmit(b)) = out.pop() else {
                    panic!()
                };
                let (_, version, c2) = request_of(b);
                assert_eq!(version, 0, "no list: retry with v0");
                corr = c2;
            } else {
                assert_eq!(
                    r,
                    Err(ProtocolError::ApiVersions(ErrorCode::UnsupportedVersion).into())
                );
            }
        }
    }

    #[test]
    fn sasl_needs_handshake_v1_and_authenticate() {
        let sasl = SaslConfig::plain("u", "p");
        let s = ConnSettings {
            sasl: Some(&sasl),
            ..settings()
        };
        let without_v1: Vec<ApiVersion> = full_list()
            .into_iter()
            .map(|v| {
                if v.api_key == ApiKey::SaslHandshake.id() {
                    v.with_max_version(0)
                } else {
                    v
                }
            })
            .collect();
        let mut c = Connection::new(ConnId(1), Broker::Node(0), t0(), Duration::from_secs(5));
        let corr = request_of(c.handle_connected(s).unwrap()).2;
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default().with_api_keys(without_v1);
        encode_response_frame(corr, 3, &body.into(), &mut wire).unwrap();
        let r = c.handle_recv(t0(), &mut wire, s, &mut Vec::new());
        assert_eq!(r, Err(AuthError::Unsupported.into()));

        // With v1 the handshake names the mechanism, and the connection is
        // not ready before authentication.
        let mut c = Connection::new(ConnId(2), Broker::Node(0), t0(), Duration::from_secs(5));
        let corr = request_of(c.handle_connected(s).unwrap()).2;
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default().with_api_keys(full_list());
        encode_response_frame(corr, 3, &body.into(), &mut wire).unwrap();
        let mut out = Vec::new();
        c.handle_recv(t0(), &mut wire, s, &mut out).unwrap();
        let [ConnOutput::Transmit(b)] = &out[..] else {
            panic!("{out:?}")
        };
        let (key, version, _) = request_of(b.clone());
        assert_eq!((key, version), (ApiKey::SaslHandshake.id(), 1));
        assert!(!c.is_ready());
        assert!(c.poll_timeout().is_some(), "the setup timer still runs");
    }

    #[test]
    fn correlation_mismatch_and_unsolicited_are_protocol_errors() {
        let mut c = Connection::new(ConnId(1), Broker::Node(0), t0(), Duration::from_secs(5));
        let corr = request_of(c.handle_connected(settings()).unwrap()).2;
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default().with_api_keys(full_list());
        encode_response_frame(corr + 1, 3, &body.into(), &mut wire).unwrap();
        let r = c.handle_recv(t0(), &mut wire, settings(), &mut Vec::new());
        assert_eq!(
            r,
            Err(ProtocolError::CorrelationMismatch {
                expected: corr,
                got: corr + 1
            }
            .into())
        );

        let mut c = Connection::new(ConnId(2), Broker::Node(0), t0(), Duration::from_secs(5));
        let mut wire = BytesMut::from(&[0, 0, 0, 4, 0, 0, 0, 0][..]);
        let r = c.handle_recv(t0(), &mut wire, settings(), &mut Vec::new());
        assert_eq!(r, Err(ProtocolError::Unsolicited.into()));
    }

    /// A connection past its ApiVersions exchange.
    fn ready_connection(now: Instant) -> Connection {
        let mut c = Connection::new(ConnId(1), Broker::Node(0), now, Duration::from_secs(5));
        let corr = request_of(c.handle_connected(settings()).unwrap()).2;
        let mut wire = BytesMut::new();
        let body = ApiVersionsResponse::default().with_api_keys(full_list());
        encode_response_frame(corr, 3, &body.into(), &mut wire).unwrap();
        c.handle_recv(t0(), &mut wire, settings(), &mut Vec::new())
            .unwrap();
        assert!(c.is_ready());
        c
    }

    fn produce_request(now: Instant, id: u64, acks: i16) -> Outbound {
        Outbound {
            id: RequestId(id),
            target: crate::router::Target::Node(0),
            body: kafka_proto::messages::ProduceRequest::default()
                .with_acks(acks)
                .into(),
            expires: now + Duration::from_secs(30),
        }
    }

    #[test]
    fn a_produce_with_acks_zero_waits_for_no_response() {
        let now = t0();
        let mut c = ready_connection(now);
        let req = |id, acks| produce_request(now, id, acks);
        c.send(now, req(1, 0), settings()).unwrap();
        assert_eq!(c.in_flight(), 0, "nothing will answer acks=0");
        assert_eq!(c.poll_timeout(), None, "no request timer for it");
        c.send(now, req(2, 1), settings()).unwrap();
        assert_eq!(c.in_flight(), 1);
        assert!(c.poll_timeout().is_some());
    }

    /// Tansu answers acks=0 produce requests; the answers are skipped and
    /// the connection carries on, while a truly unexpected answer still
    /// fails it.
    #[test]
    fn answers_to_acks_zero_requests_are_skipped() {
        use kafka_proto::messages::ProduceResponse;
        let now = t0();
        let mut c = ready_connection(now);
        let req = |id, acks| produce_request(now, id, acks);
        let sent: Vec<i32> = [(1, 0), (2, 0), (3, 1), (4, 0)]
            .into_iter()
            .map(|(id, acks)| {
                request_of(c.send(now, req(id, acks), settings()).unwrap().into_bytes()).2
            })
            .collect();
        assert_eq!(c.in_flight(), 1);
        let produce = |corr: i32, wire: &mut BytesMut| {
            let version = 9;
            encode_response_frame(corr, version, &ProduceResponse::default().into(), wire).unwrap();
        };
        // The broker answers the second acks=0 request (skipping the
        // first), then the acks=1 one, then the last acks=0 one.
        let mut wire = BytesMut::new();
        produce(sent[1], &mut wire);
        produce(sent[2], &mut wire);
        produce(sent[3], &mut wire);
        let mut out = Vec::new();
        c.handle_recv(t0(), &mut wire, settings(), &mut out)
            .unwrap();
        assert_eq!(c.in_flight(), 0);
        let answered: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                ConnOutput::Response { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(
            answered,
            [RequestId(3)],
            "only the acks=1 request is answered"
        );
        // The first acks=0 id was passed over: an answer to it now is
        // unexpected, and fails the connection as before.
        let mut wire = BytesMut::new();
        produce(sent[0], &mut wire);
        let r = c.handle_recv(t0(), &mut wire, settings(), &mut Vec::new());
        assert_eq!(r, Err(ProtocolError::Unsolicited.into()));
    }
}
