//! A transaction left open past its `transaction_timeout` on Apache Kafka,
//! which aborts it and bumps the producer epoch.
//!
//! With transaction v2 (KIP-890) the producer's own abort is answered as
//! a retry of that abort, with the new epoch, so the producer goes on.
//! With the first protocol nothing lets it go on: the abort is fenced, and
//! so is the KIP-588 way out (InitProducerId naming the current id and
//! epoch), because the coordinator's timeout fence keeps no previous
//! epoch to match. The raw check below pins that, as it is why the client
//! does not try KIP-588 (a try under an old epoch could only disturb a
//! newer instance).

mod common;

use std::time::Duration;

use common::Broker;
use kafka_proto::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_proto::messages::{AddPartitionsToTxnRequest, InitProducerIdRequest};
use kafka_proto::{ErrorCode, ResponseBody};
use kafka_testkit::{KafkaCluster, Listener};
use kafka_tokio::{Error, IsolationLevel, ProducerRecord, TxnCause, TxnError};

const TIMEOUT: Duration = Duration::from_secs(2);
/// Longer than the timeout plus the coordinator's check interval (set to
/// 500 ms below), with a margin for a loaded machine.
const PAST_TIMEOUT: Duration = Duration::from_secs(6);

fn cluster(level: i16) -> Option<KafkaCluster> {
    KafkaCluster::builder()
        .brokers(1)
        .feature("transaction.version", level)
        .property(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "500",
        )
        .start()
}

/// What the producer tries after its transaction timed out, before it
/// aborts.
#[derive(Debug, Clone, Copy)]
enum Late {
    /// Another record, then a commit.
    Send,
    /// Offsets, then a commit.
    Offsets,
    /// A commit.
    Commit,
}

/// Opens a transaction, writes `a`, waits past the timeout, tries `late`
/// (each step must fail: nothing commits), and aborts; returns the
/// producer's client with the abort's outcome.
async fn time_out(
    broker: &Broker,
    out: &str,
    late: Late,
) -> (kafka_tokio::Client, Result<(), Error>) {
    let client = broker
        .client(|c| {
            c.producer.transactional_id = Some(broker.topic(&format!("txn-{late:?}")));
            c.producer.transaction_timeout = TIMEOUT;
        })
        .await;
    let p = client.producer();
    within(p.init_transactions()).await.unwrap();
    p.begin_transaction().await.unwrap();
    let a = p
        .send(ProducerRecord::new(out).with_value("a"))
        .await
        .unwrap();
    within(a).await.unwrap();
    tokio::time::sleep(PAST_TIMEOUT).await;
    // The coordinator aborted the transaction and bumped the epoch: the
    // old one is refused everywhere, and the commit must not go through.
    match late {
        Late::Send => {
            let b = p
                .send(ProducerRecord::new(out).with_value("b"))
                .await
                .unwrap();
            let refused = within(b).await;
            assert!(
                matches!(
                    refused,
                    Err(Error::Kafka {
                        code: ErrorCode::InvalidProducerEpoch,
                        ..
                    })
                ),
                "{refused:?}"
            );
        }
        Late::Offsets => {
            let offsets = [(
                kafka_tokio::TopicPartition::new(out, 0),
                kafka_tokio::OffsetAndMetadata::new(1, None),
            )];
            let group = kafka_tokio::GroupMetadata::new(broker.topic("g"));
            let sent =
                within(p.send_offsets_to_transaction(offsets.into_iter().collect(), &group)).await;
            assert!(sent.is_err(), "{sent:?}");
        }
        Late::Commit => {}
    }
    let commit = within(p.commit_transaction()).await;
    assert!(commit.is_err(), "{late:?}: {commit:?}");
    let abort = within(p.abort_transaction()).await;
    (client, abort)
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("in time")
}

/// The values a read_committed consumer sees in `topic`, partition 0:
/// those read until nothing more comes for 3 s.
async fn committed_values(broker: &Broker, topic: &str) -> Vec<String> {
    let client = broker
        .client(|c| {
            c.consumer.isolation_level = IsolationLevel::ReadCommitted;
            c.consumer.auto_offset_reset = kafka_tokio::AutoOffsetReset::Earliest;
        })
        .await;
    let mut consumer = client.consumer().unwrap();
    consumer
        .assign([kafka_tokio::TopicPartition::new(topic, 0)])
        .await
        .unwrap();
    let mut values = Vec::new();
    while let Ok(next) =
        tokio::time::timeout(Duration::from_secs(3), common::next_record(&mut consumer)).await
    {
        let r = next.expect("the stream goes on").unwrap();
        values.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
    }
    values
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_and_the_producer_goes_on_with_transaction_v2() {
    let Some(cluster) = cluster(2) else { return };
    let broker = Broker {
        bootstrap: cluster.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: format!("to2-{}-", std::process::id()),
    };
    let admin = broker.client(|_| {}).await;
    for late in [Late::Send, Late::Offsets, Late::Commit] {
        let out = broker.topic(&format!("out-{late:?}"));
        admin.create_topic(broker.new_topic(&out, 1)).await.unwrap();
        let (client, abort) = time_out(&broker, &out, late).await;
        // Abortable all along: the abort is answered with the new epoch.
        abort.unwrap_or_else(|e| panic!("{late:?}: {e}"));
        let p = client.producer();
        p.begin_transaction().await.unwrap();
        let c = p
            .send(ProducerRecord::new(&out).with_value("c"))
            .await
            .unwrap();
        within(c).await.unwrap();
        within(p.commit_transaction()).await.unwrap();
        assert_eq!(committed_values(&broker, &out).await, ["c"], "{late:?}");
    }
}

#[tokio::test]
async fn a_timed_out_transaction_fences_the_producer_with_the_first_protocol() {
    let Some(cluster) = cluster(0) else { return };
    let broker = Broker {
        bootstrap: cluster.bootstrap(),
        replication: 1,
        exact_latest: true,
        prefix: format!("to0-{}-", std::process::id()),
    };
    let out = broker.topic("out");
    let admin = broker.client(|_| {}).await;
    admin.create_topic(broker.new_topic(&out, 1)).await.unwrap();
    let (client, abort) = time_out(&broker, &out, Late::Send).await;
    let fenced = Error::Transaction(TxnError::Fatal(TxnCause::Broker(ErrorCode::ProducerFenced)));
    assert_eq!(abort.map_err(|e| e.to_string()), Err(fenced.to_string()));
    // Sticky: every later call fails the same way.
    let again = client.producer().begin_transaction().await;
    assert!(
        matches!(again, Err(Error::Transaction(TxnError::Fatal(_)))),
        "{again:?}"
    );
    assert!(committed_values(&broker, &out).await.is_empty());

    // KIP-588 would be InitProducerId naming the id and epoch the
    // producer had; the coordinator refuses it after its timeout fence.
    let node = cluster.node_ids()[0];
    let addr = cluster.addr(node, Listener::Plaintext);
    let txn_id = broker.topic("raw");
    let init = |pid: i64, epoch: i16| {
        let body = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id.clone()))
            .with_transaction_timeout_ms(TIMEOUT.as_millis() as i32)
            .with_producer_id(pid)
            .with_producer_epoch(epoch);
        match kafka_testkit::kafka::request_once(addr, body.into(), 5).unwrap() {
            ResponseBody::InitProducerId(r) => r,
            other => panic!("{other:?}"),
        }
    };
    let first = init(-1, -1);
    assert_eq!(first.error_code, 0, "{first:?}");
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id.clone())
        .with_v3_and_below_producer_id(first.producer_id)
        .with_v3_and_below_producer_epoch(first.producer_epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(out.clone())
            .with_partitions(vec![0])]);
    let added = kafka_testkit::kafka::request_once(addr, add.into(), 3).unwrap();
    assert!(
        format!("{added:?}").contains("partition_error_code: 0"),
        "{added:?}"
    );
    std::thread::sleep(PAST_TIMEOUT);
    let recover = init(first.producer_id, first.producer_epoch);
    assert_eq!(
        ErrorCode::from_code(recover.error_code),
        ErrorCode::ProducerFenced,
        "{recover:?}"
    );
}
