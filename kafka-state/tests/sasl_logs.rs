//! SASL secrets stay out of the logs. Alone in its test binary: tracing
//! caches per call site whether anyone listens, so a test capturing logs
//! with a scoped subscriber must not share the process with tests that
//! reach the same call sites without one.

mod sim;

use std::time::Duration;

use kafka_mock::SaslMechanism as MockMechanism;
use kafka_state::{AuthError, DisconnectReason, Event, SaslConfig, SaslMechanism};
use sim::Sim;

const PASSWORD: &str = "pa55-w0rd-secret";
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzdmMifQ.sig-secret";

/// Three brokers that know `alice` (or the token) for the configured
/// mechanism only: SCRAM credentials are costly to derive.
fn sasl_sim(seed: u64, sasl: SaslConfig) -> Sim {
    let mechanism = sasl.mechanism();
    let mut sim = Sim::with_config(seed, 3, |c| c.sasl = Some(sasl));
    let (m, user, secret) = match mechanism {
        SaslMechanism::Plain => (MockMechanism::Plain, "alice", PASSWORD),
        SaslMechanism::ScramSha256 => (MockMechanism::ScramSha256, "alice", PASSWORD),
        SaslMechanism::ScramSha512 => (MockMechanism::ScramSha512, "alice", PASSWORD),
        _ => (MockMechanism::OAuthBearer, "svc", TOKEN),
    };
    sim.cluster.add_sasl_user(m, user, secret);
    sim
}

fn auth_failures(sim: &Sim) -> Vec<AuthError> {
    sim.events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionLost {
                reason: DisconnectReason::Authentication(a),
                ..
            } => Some(a.clone()),
            _ => None,
        })
        .collect()
}

/// Collects every log event's fields as text.
struct Capture(std::sync::Arc<std::sync::Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.0.lock().unwrap();
        span.record(&mut Fields(&mut text));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.0.lock().unwrap();
        text.push('\n');
        event.record(&mut Fields(&mut text));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Every log line of a SCRAM success, a PLAIN failure and an OAUTHBEARER
/// exchange, from the client and the mock, leaves the secrets out.
#[test]
fn sasl_secrets_stay_out_of_logs() {
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    tracing::subscriber::with_default(Capture(logs.clone()), || {
        let mut sim = sasl_sim(5, SaslConfig::scram_sha512("alice", PASSWORD));
        sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
        let mut sim = sasl_sim(5, SaslConfig::plain("alice", "wrong-pa55-secret"));
        sim.run_until(Duration::from_secs(5), |s| !auth_failures(s).is_empty());
        let mut sim = sasl_sim(5, SaslConfig::oauthbearer());
        sim.wait_for(Duration::from_secs(5), |e| {
            (*e == Event::OAuthTokenRequired).then_some(())
        });
        let now = sim.now;
        sim.client
            .set_oauth_token(now, TOKEN, Duration::from_secs(60))
            .unwrap();
        sim.flush();
        sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
    });
    let logs = logs.lock().unwrap();
    assert!(logs.contains("authentication failed"), "{logs}");
    assert!(logs.contains("SCRAM-SHA-512"), "the logs were captured");
    for secret in [PASSWORD, "wrong-pa55-secret", TOKEN, "sig-secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
