//! ACLs and SCRAM credentials on an Apache Kafka cluster with the
//! StandardAuthorizer: a super user creates an ACL with this client, sees
//! it described, a user it names gains exactly that right (and no other),
//! and losing the ACL takes the right away again; a SCRAM user this
//! client adds can log in, and its credential can be removed; client
//! quotas are checked, set, described and removed. One cluster serves all
//! three, so they run in one test.

use std::time::{Duration, Instant};

use kafka_testkit::kafka::Listener;
use kafka_testkit::KafkaCluster;
use kafka_tokio::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermission, AclResourceType,
    BrokerAddr, Client, Config, ConfigResource, Error, ErrorCode, NewTopic, QuotaEntity,
    QuotaFilter, QuotaMatch, QuotaOp, SaslConfig, ScramChange, ScramMechanism,
    UserScramCredentials,
};

async fn login(cluster: &KafkaCluster, user: &str, password: &str) -> Client {
    try_login(cluster, user, password).await.unwrap()
}

async fn try_login(cluster: &KafkaCluster, user: &str, password: &str) -> Result<Client, Error> {
    let mut config =
        Config::new(BrokerAddr::parse_list(&cluster.bootstrap_for(Listener::Sasl)).unwrap());
    config.sasl = Some(SaslConfig::scram_sha256(user, password));
    tokio::time::timeout(Duration::from_secs(30), Client::connect(config))
        .await
        .expect("connects in time")
}

/// The error `client` gets describing `topic`'s configs.
async fn configs_error(client: &Client, topic: &str) -> ErrorCode {
    let described = client
        .describe_configs([ConfigResource::Topic(topic.into())], false)
        .await
        .unwrap();
    described[0].error
}

/// Waits until `client` gets `want` describing `topic`'s configs: the
/// brokers learn ACL changes from the metadata log, a moment later.
async fn wait_for_configs_error(client: &Client, topic: &str, want: ErrorCode) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let got = configs_error(client, topic).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "{topic}: still {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn acls_scram_credentials_and_quotas_on_kafka() {
    let Some(cluster) = KafkaCluster::builder()
        .brokers(1)
        .scram_user("admin", "admin-secret")
        .scram_user("alice", "alice-secret")
        .authorizer(&["User:admin"])
        .start()
    else {
        return;
    };
    let admin = login(&cluster, "admin", "admin-secret").await;
    let alice = login(&cluster, "alice", "alice-secret").await;
    for t in ["granted", "other"] {
        admin.create_topic(NewTopic::new(t, 1, 1)).await.unwrap();
    }
    assert_eq!(
        configs_error(&alice, "granted").await,
        ErrorCode::TopicAuthorizationFailed
    );

    let binding = AclBinding::new(
        AclResourceType::Topic,
        "granted",
        "User:alice",
        AclOperation::DescribeConfigs,
        AclPermission::Allow,
    );
    let created = admin.create_acls([binding.clone()]).await.unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].error, ErrorCode::None, "{created:?}");
    assert_eq!(created[0].binding, binding);

    // Described by principal, and by MATCH on the topic's name.
    let by_principal = AclBindingFilter::any().with_principal("User:alice");
    let by_match = AclBindingFilter::any()
        .with_resource_type(AclResourceType::Topic)
        .with_resource_name("granted")
        .with_pattern_type(AclPatternType::Match);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let described = admin.describe_acls(by_principal.clone()).await.unwrap();
        if described == [binding.clone()] {
            break;
        }
        assert!(described.is_empty(), "{described:?}");
        assert!(Instant::now() < until, "the ACL is never described");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        admin.describe_acls(by_match).await.unwrap(),
        vec![binding.clone()]
    );

    // Alice may now describe that topic's configs, and still not another's.
    wait_for_configs_error(&alice, "granted", ErrorCode::None).await;
    assert_eq!(
        configs_error(&alice, "other").await,
        ErrorCode::TopicAuthorizationFailed
    );
    // A user without ALTER on the cluster cannot touch ACLs.
    match alice.describe_acls(AclBindingFilter::any()).await {
        Err(Error::Kafka { code, .. }) => assert_eq!(code, ErrorCode::ClusterAuthorizationFailed),
        other => panic!("{other:?}"),
    }

    let deleted = admin.delete_acls([binding.to_filter()]).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].error, ErrorCode::None, "{deleted:?}");
    assert_eq!(deleted[0].deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].deleted[0].binding, binding);
    assert_eq!(deleted[0].deleted[0].error, ErrorCode::None);
    wait_for_configs_error(&alice, "granted", ErrorCode::TopicAuthorizationFailed).await;

    // A binding with a filter's value never leaves the client.
    let matching = binding.clone().with_pattern_type(AclPatternType::Match);
    assert!(matches!(
        admin.create_acls([matching]).await,
        Err(Error::Misuse(kafka_state::Misuse::InvalidAcl { .. }))
    ));
    alice.close().await;
    scram_credentials(&cluster, &admin).await;
    quotas(&admin).await;
    admin.close().await;
}

async fn quotas(admin: &Client) {
    let alice = QuotaEntity::new().with_user("alice");
    let defaults = QuotaEntity::new().with("client-id", None);
    let set = vec![
        (
            alice.clone(),
            vec![QuotaOp::Set("producer_byte_rate".into(), 1_048_576.0)],
        ),
        (
            defaults.clone(),
            vec![QuotaOp::Set("request_percentage".into(), 50.0)],
        ),
    ];
    // Checked only: nothing is set.
    let checked = admin.alter_client_quotas(set.clone(), true).await.unwrap();
    assert!(
        checked.iter().all(|o| o.error == ErrorCode::None),
        "{checked:?}"
    );
    let users = QuotaFilter::any().with("user", QuotaMatch::Exact("alice".into()));
    assert!(admin
        .describe_client_quotas(users.clone())
        .await
        .unwrap()
        .is_empty());

    let done = admin.alter_client_quotas(set, false).await.unwrap();
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|o| o.error == ErrorCode::None), "{done:?}");
    assert_eq!(done[0].entity, alice);
    let until = Instant::now() + Duration::from_secs(30);
    let described = loop {
        let d = admin.describe_client_quotas(users.clone()).await.unwrap();
        if !d.is_empty() {
            break d;
        }
        assert!(Instant::now() < until, "alice's quota is never described");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].entity, alice);
    assert_eq!(described[0].values["producer_byte_rate"], 1_048_576.0);
    let by_default = QuotaFilter::any()
        .with("client-id", QuotaMatch::Default)
        .strict();
    let d = admin.describe_client_quotas(by_default).await.unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].entity, defaults);

    // An unknown quota name is refused for that entity alone.
    let mixed = admin
        .alter_client_quotas(
            [
                (
                    alice.clone(),
                    vec![QuotaOp::Remove("producer_byte_rate".into())],
                ),
                (
                    QuotaEntity::new().with_user("bob"),
                    vec![QuotaOp::Set("no_such_quota".into(), 1.0)],
                ),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(mixed[0].error, ErrorCode::None, "{mixed:?}");
    assert!(mixed[1].error.is_error(), "{mixed:?}");

    // A negative rate never leaves the client.
    assert!(matches!(
        admin
            .alter_client_quotas(
                [(alice, vec![QuotaOp::Set("producer_byte_rate".into(), -1.0)])],
                false
            )
            .await,
        Err(Error::Misuse(kafka_state::Misuse::InvalidQuota { .. }))
    ));
}

/// Describes `user` (and `nobody`) until the answer for `user` carries
/// `want`: the broker that answers learns of a change from the metadata
/// log a moment after the controller committed it, so a describe right
/// after an alter can still see the state before it.
async fn wait_for_scram(admin: &Client, user: &str, want: ErrorCode) -> Vec<UserScramCredentials> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let got = admin
            .describe_user_scram_credentials([user, "nobody"])
            .await
            .unwrap();
        let of_user = got.iter().find(|u| u.user == user).expect("user answered");
        if of_user.error == want {
            return got;
        }
        assert!(
            Instant::now() < until,
            "{user} never described with {want:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scram_credentials(cluster: &KafkaCluster, admin: &Client) {
    let all = admin
        .describe_user_scram_credentials(Vec::<String>::new())
        .await
        .unwrap();
    let alice = all
        .iter()
        .find(|u| u.user == "alice")
        .expect("alice listed");
    let mut mechanisms: Vec<ScramMechanism> =
        alice.credentials.iter().map(|c| c.mechanism).collect();
    mechanisms.sort();
    assert_eq!(mechanisms, [ScramMechanism::Sha256, ScramMechanism::Sha512]);

    let set = ScramChange::upsert("carol", ScramMechanism::Sha256, 8192, "carol-secret");
    let altered = admin.alter_user_scram_credentials([set]).await.unwrap();
    assert_eq!(altered.len(), 1);
    assert_eq!(altered[0].user, "carol");
    assert_eq!(altered[0].error, ErrorCode::None, "{altered:?}");
    let carol = wait_for_scram(admin, "carol", ErrorCode::None).await;
    let find = |name: &str| carol.iter().find(|u| u.user == name).unwrap().clone();
    assert_eq!(find("carol").error, ErrorCode::None);
    assert_eq!(find("carol").credentials.len(), 1);
    assert_eq!(
        find("carol").credentials[0].mechanism,
        ScramMechanism::Sha256
    );
    assert_eq!(find("carol").credentials[0].iterations, 8192);
    assert_eq!(find("nobody").error, ErrorCode::ResourceNotFound);

    // The broker learns the credential from the metadata log a moment
    // after the controller commits it.
    let until = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match try_login(cluster, "carol", "carol-secret").await {
            Ok(c) => break c,
            Err(e) => assert!(Instant::now() < until, "carol never logs in: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    client.metadata_all().await.unwrap();
    client.close().await;

    let removed = admin
        .alter_user_scram_credentials([ScramChange::delete("carol", ScramMechanism::Sha256)])
        .await
        .unwrap();
    assert_eq!(removed[0].error, ErrorCode::None, "{removed:?}");
    let gone = wait_for_scram(admin, "carol", ErrorCode::ResourceNotFound).await;
    assert!(
        gone.iter().all(|u| u.error == ErrorCode::ResourceNotFound),
        "{gone:?}"
    );

    // Out-of-range iterations never leave the client.
    let weak = ScramChange::upsert("dave", ScramMechanism::Sha512, 100, "pw");
    assert!(matches!(
        admin.alter_user_scram_credentials([weak]).await,
        Err(Error::Misuse(
            kafka_state::Misuse::InvalidScramChange { .. }
        ))
    ));
}
