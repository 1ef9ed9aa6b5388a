//! SASL against the mock cluster's server side: PLAIN, SCRAM-SHA-256/512
//! and OAUTHBEARER through the simulation, refused credentials, a mechanism
//! the broker does not enable, and secrets kept out of `Debug` output.

mod sim;

use std::time::Duration;

use kafka_mock::SaslMechanism as MockMechanism;
use kafka_state::{
    AuthError, DisconnectReason, Event, Misuse, NewTopic, RequestError, SaslConfig, SaslMechanism,
};
use sim::{for_each_seed, Sim};

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

/// Authenticated connections: metadata (which the mock refuses before
/// authentication) arrives, a topic is created through the controller,
/// and after a reset the client authenticates again; no auth failure.
fn authenticates(seed: u64, sasl: SaslConfig) {
    let mut sim = sasl_sim(seed, sasl);
    sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
    let now = sim.now;
    let id = sim
        .client
        .admin()
        .create_topics(now, [NewTopic::new("orders", 3, 3)])
        .unwrap();
    let result = sim.wait_for(Duration::from_secs(10), |e| match e {
        Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
        _ => None,
    });
    assert!(result.is_ok(), "{result:?}");
    for conn in sim.open_conns() {
        sim.drop_connection(conn);
    }
    let ready_before = ready_count(&sim);
    sim.client.refresh_metadata(sim.now).unwrap();
    sim.run_until(Duration::from_secs(10), |s| ready_count(s) > ready_before);
    assert_eq!(auth_failures(&sim), vec![]);
}

fn ready_count(sim: &Sim) -> usize {
    sim.events
        .iter()
        .filter(|e| matches!(e, Event::BrokerReady { .. }))
        .count()
}

#[test]
fn sim_sasl_plain_authenticates() {
    for_each_seed(|seed| authenticates(seed, SaslConfig::plain("alice", PASSWORD)));
}

/// SCRAM key derivation is costly in debug builds: each seed runs one of
/// the two hashes.
#[test]
fn sim_sasl_scram_authenticates() {
    for_each_seed(|seed| {
        let sasl = if seed % 2 == 0 {
            SaslConfig::scram_sha256("alice", PASSWORD)
        } else {
            SaslConfig::scram_sha512("alice", PASSWORD)
        };
        authenticates(seed, sasl)
    });
}

/// A wrong password or unknown user: every attempt fails with the broker's message, the
/// broker is backed off between attempts, and no request gets through.
#[test]
fn sim_sasl_wrong_password_is_an_authentication_failure_with_backoff() {
    for_each_seed(|seed| {
        // One case per seed, for the same reason as above.
        let cases = [
            SaslConfig::plain("alice", "wrong"),
            SaslConfig::scram_sha256("alice", "wrong"),
            SaslConfig::scram_sha512("mallory", PASSWORD),
        ];
        {
            let sasl = cases[seed as usize % cases.len()].clone();
            let mechanism = sasl.mechanism();
            let mut sim = sasl_sim(seed, sasl);
            sim.run_until(Duration::from_secs(5), |s| auth_failures(s).len() >= 3);
            for f in auth_failures(&sim) {
                assert!(
                    matches!(&f, AuthError::Failed { mechanism: m, message }
                        if *m == mechanism && !message.is_empty()),
                    "{f:?}"
                );
            }
            assert!(!sim.events.contains(&Event::MetadataUpdated));
            assert_eq!(ready_count(&sim), 0);
            // Reconnects to one broker are spaced by its backoff
            // (50 ms ±20% after the first failure).
            for port in [9092, 9093, 9094] {
                let opens: Vec<_> = sim
                    .opens
                    .iter()
                    .filter(|o| o.2 == port)
                    .map(|o| o.0)
                    .collect();
                for w in opens.windows(2) {
                    assert!(w[1] - w[0] >= Duration::from_millis(40), "{opens:?}");
                }
            }
        }
    });
}

/// A refused password fails the calls waiting for a connection at once,
/// with the authentication error, instead of leaving them queued until
/// the API timeout (a minute by default) while every broker refuses the
/// same credentials in turn.
#[test]
fn sim_sasl_wrong_password_fails_waiting_calls_at_once() {
    for_each_seed(|seed| {
        let mut sim = sasl_sim(seed, SaslConfig::scram_sha256("alice", "wrong"));
        assert_eq!(sim.client.config().api_timeout, Duration::from_secs(60));
        let now = sim.now;
        let id = sim
            .client
            .admin()
            .create_topics(now, [NewTopic::new("orders", 1, 1)])
            .unwrap();
        let result = sim.wait_for(Duration::from_secs(2), |e| match e {
            Event::AdminResult { id: got, result } if *got == id => Some(result.clone()),
            _ => None,
        });
        match result {
            Err(RequestError::Disconnected {
                reason: DisconnectReason::Authentication(AuthError::Failed { .. }),
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            sim.elapsed() < Duration::from_secs(2),
            "{:?}",
            sim.elapsed()
        );
    });
}

#[test]
fn sim_sasl_mechanism_not_enabled_names_what_the_broker_offers() {
    for_each_seed(|seed| {
        let mut sim = Sim::with_config(seed, 1, |c| {
            c.sasl = Some(SaslConfig::scram_sha512("alice", PASSWORD))
        });
        sim.cluster
            .add_sasl_user(MockMechanism::Plain, "alice", PASSWORD);
        sim.run_until(Duration::from_secs(5), |s| !auth_failures(s).is_empty());
        assert_eq!(
            auth_failures(&sim)[0],
            AuthError::MechanismNotEnabled {
                mechanism: SaslMechanism::ScramSha512,
                enabled: vec!["PLAIN".to_string()],
            }
        );
    });
}

#[test]
fn sim_sasl_against_a_listener_without_sasl_fails_clearly() {
    let mut sim = Sim::with_config(1, 1, |c| {
        c.sasl = Some(SaslConfig::plain("alice", PASSWORD))
    });
    sim.run_until(Duration::from_secs(5), |s| !auth_failures(s).is_empty());
    assert_eq!(
        auth_failures(&sim)[0],
        AuthError::Broker(kafka_proto::ErrorCode::IllegalSaslState)
    );
}

/// OAUTHBEARER: the client asks for a token and waits; the application
/// answers later (an asynchronous token source), and the waiting
/// connection goes on.
#[test]
fn sim_sasl_oauthbearer_waits_for_the_applications_token() {
    for_each_seed(|seed| {
        let mut sim = sasl_sim(seed, SaslConfig::oauthbearer());
        sim.wait_for(Duration::from_secs(5), |e| {
            (*e == Event::OAuthTokenRequired).then_some(())
        });
        // The token source takes its time; the connection waits in setup.
        sim.run_for(Duration::from_millis(500));
        assert_eq!(ready_count(&sim), 0);
        assert_eq!(
            sim.events
                .iter()
                .filter(|e| **e == Event::OAuthTokenRequired)
                .count(),
            1,
            "asked once"
        );
        let now = sim.now;
        sim.client
            .set_oauth_token(now, TOKEN, Duration::from_secs(3600))
            .unwrap();
        sim.flush();
        sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
        // A later connection uses the stored token without asking.
        for conn in sim.open_conns() {
            sim.drop_connection(conn);
        }
        let ready_before = ready_count(&sim);
        sim.client.refresh_metadata(sim.now).unwrap();
        sim.run_until(Duration::from_secs(10), |s| ready_count(s) > ready_before);
        assert_eq!(
            sim.events
                .iter()
                .filter(|e| **e == Event::OAuthTokenRequired)
                .count(),
            1
        );
        assert_eq!(auth_failures(&sim), vec![]);
    });
}

/// An expired token is not used: the next connection asks again.
#[test]
fn sim_sasl_oauthbearer_expired_token_is_requested_again() {
    for_each_seed(|seed| {
        let mut sim = sasl_sim(seed, SaslConfig::oauthbearer());
        sim.wait_for(Duration::from_secs(5), |e| {
            (*e == Event::OAuthTokenRequired).then_some(())
        });
        let now = sim.now;
        sim.client
            .set_oauth_token(now, TOKEN, Duration::from_secs(2))
            .unwrap();
        sim.flush();
        sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
        sim.run_for(Duration::from_secs(3));
        for conn in sim.open_conns() {
            sim.drop_connection(conn);
        }
        sim.client.refresh_metadata(sim.now).unwrap();
        sim.run_until(Duration::from_secs(5), |s| {
            s.events
                .iter()
                .filter(|e| **e == Event::OAuthTokenRequired)
                .count()
                == 2
        });
    });
}

#[test]
fn sim_sasl_oauthbearer_bad_token_and_no_token() {
    for_each_seed(|seed| {
        // A token the broker does not accept.
        let mut sim = sasl_sim(seed, SaslConfig::oauthbearer());
        sim.wait_for(Duration::from_secs(5), |e| {
            (*e == Event::OAuthTokenRequired).then_some(())
        });
        let now = sim.now;
        sim.client
            .set_oauth_token(now, "not-the-token", Duration::from_secs(60))
            .unwrap();
        sim.flush();
        sim.run_until(Duration::from_secs(5), |s| !auth_failures(s).is_empty());
        let AuthError::Failed { mechanism, message } = &auth_failures(&sim)[0] else {
            panic!("{:?}", auth_failures(&sim));
        };
        assert_eq!(*mechanism, SaslMechanism::OAuthBearer);
        assert!(!message.is_empty());

        // No answer at all: the setup timeout closes the waiting connection.
        let mut sim = sasl_sim(seed, SaslConfig::oauthbearer());
        let timeout = sim.client.config().connection_setup_timeout;
        sim.run_until(timeout * 2, |s| {
            s.events.iter().any(|e| {
                matches!(
                    e,
                    Event::ConnectionLost {
                        reason: DisconnectReason::SetupTimeout,
                        ..
                    }
                )
            })
        });
        assert_eq!(ready_count(&sim), 0);
    });
}

#[test]
fn sim_sasl_oauth_token_misuse_is_returned() {
    let mut sim = Sim::new(1, 1);
    let now = sim.now;
    assert_eq!(
        sim.client
            .set_oauth_token(now, "tok", Duration::from_secs(1)),
        Err(Misuse::NotOAuthBearer)
    );
    let mut sim = sasl_sim(1, SaslConfig::oauthbearer());
    for (token, lifetime) in [("", 1), ("has space", 1), ("tok", 0)] {
        let r = sim
            .client
            .set_oauth_token(now, token, Duration::from_secs(lifetime));
        assert!(matches!(r, Err(Misuse::InvalidOAuthToken(_))), "{r:?}");
    }
    let bad = kafka_state::Config::new([kafka_state::BrokerAddr::new("h", 1)]);
    let mut bad = bad;
    bad.sasl = Some(SaslConfig::plain("", "x"));
    assert!(kafka_state::Client::new(bad, now).is_err());
}

/// Passwords and tokens never show in `Debug` output: config, client,
/// events (including failures), after a full exchange.
#[test]
fn sim_sasl_secrets_stay_out_of_debug_output() {
    let mut sim = sasl_sim(3, SaslConfig::scram_sha256("alice", PASSWORD));
    sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
    let mut text = format!(
        "{:?} {:?} {:?}",
        sim.client.config(),
        sim.client,
        sim.events
    );

    let mut sim = sasl_sim(3, SaslConfig::plain("alice", "wrong-pa55-secret"));
    sim.run_until(Duration::from_secs(5), |s| !auth_failures(s).is_empty());
    text += &format!(
        "{:?} {:?} {:?}",
        sim.client.config(),
        sim.client,
        sim.events
    );
    for e in &sim.events {
        if let Event::ConnectionLost { reason, .. } = e {
            text += &reason.to_string();
        }
    }

    let mut sim = sasl_sim(3, SaslConfig::oauthbearer());
    sim.wait_for(Duration::from_secs(5), |e| {
        (*e == Event::OAuthTokenRequired).then_some(())
    });
    let now = sim.now;
    sim.client
        .set_oauth_token(now, TOKEN, Duration::from_secs(60))
        .unwrap();
    sim.flush();
    sim.wait_metadata(Duration::from_secs(5), |m| m.brokers().count() == 3);
    text += &format!(
        "{:?} {:?} {:?}",
        sim.client.config(),
        sim.client,
        sim.events
    );

    assert!(text.contains("alice"), "the user name is not secret");
    for secret in [PASSWORD, "wrong-pa55-secret", TOKEN, "sig-secret"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}
