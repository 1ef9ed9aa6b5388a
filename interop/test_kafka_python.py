"""kafka-python against kafka-mock.

Codecs whose Python module is missing are skipped with the reason; every
blocking call has a timeout and every wait loop a deadline.
"""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kcodec
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from conftest import unique, wait_until

TIMEOUT_MS = 10_000

CODECS = [
    ("none", None),
    ("gzip", kcodec.has_gzip),
    ("snappy", kcodec.has_snappy),
    ("lz4", kcodec.has_lz4),
    ("zstd", kcodec.has_zstd),
]
MODULE_FOR = {"snappy": "python-snappy (or cramjam)", "lz4": "lz4", "zstd": "zstandard"}


def servers(bootstrap):
    return bootstrap.split(",")


def make_admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=servers(bootstrap), request_timeout_ms=TIMEOUT_MS)


def make_producer(bootstrap, **extra):
    """A plain producer. kafka-python 3 turns idempotence on by default;
    it is off here so codec and group tests do not depend on the
    producer-id API, which `test_default_idempotent_producer` covers."""
    conf = dict(
        bootstrap_servers=servers(bootstrap),
        enable_idempotence=False,
        linger_ms=20,
        request_timeout_ms=TIMEOUT_MS,
        max_block_ms=TIMEOUT_MS,
        retries=3,
    )
    conf.update(extra)
    return KafkaProducer(**conf)


def make_consumer(bootstrap, **extra):
    conf = dict(
        bootstrap_servers=servers(bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=TIMEOUT_MS + 1000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=200,
    )
    conf.update(extra)
    return KafkaConsumer(**conf)


def create_topic(bootstrap, name, partitions):
    admin = make_admin(bootstrap)
    try:
        admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1}})
        wait_until(lambda: name in admin.list_topics(), 10, f"topic {name} listed")
    finally:
        admin.close()


def poll_records(consumer, count, timeout):
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < count:
        for records in consumer.poll(timeout_ms=200).values():
            got.extend(records)
    assert len(got) >= count, f"consumed {len(got)} of {count} records in {timeout}s"
    return got


@pytest.mark.parametrize("codec,available", CODECS, ids=[c for c, _ in CODECS])
def test_produce_consume_codec(bootstrap, codec, available):
    if available is not None and not available():
        pytest.skip(f"kafka-python cannot use {codec}: module {MODULE_FOR[codec]} is not installed")
    topic = unique(f"kp-{codec}")
    create_topic(bootstrap, topic, 2)
    base_ts = int(time.time() * 1000) - 60_000
    producer = make_producer(bootstrap, compression_type=None if codec == "none" else codec)
    expected = {}
    futures = []
    try:
        for p in range(2):
            for i in range(30):
                key = None if i % 5 == 0 else f"key-{i}".encode()
                # kafka-python refuses a record with both key and value null.
                tombstone = i % 7 == 3 and key is not None
                value = None if tombstone else (f"{codec}/{p}/{i} " * (1 + i % 4)).encode()
                headers = [("dup", b"one"), ("dup", b"two"), ("i", str(i).encode())] if i % 2 else []
                ts = base_ts + p * 1000 + i
                futures.append(
                    producer.send(
                        topic, key=key, value=value, headers=headers, partition=p, timestamp_ms=ts
                    )
                )
                expected.setdefault(p, []).append((key, value, headers, ts))
        producer.flush(timeout=20)
        metas = [f.get(timeout=10) for f in futures]
    finally:
        producer.close(timeout=5)
    for p in range(2):
        assert sorted(m.offset for m in metas if m.partition == p) == list(range(30))

    consumer = make_consumer(bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = poll_records(consumer, 60, 20)
    finally:
        consumer.close(autocommit=False, timeout_ms=5000)
    assert len(records) == 60
    for p in range(2):
        recs = [r for r in records if r.partition == p]
        assert [r.offset for r in recs] == list(range(30))
        for r, (key, value, headers, ts) in zip(recs, expected[p]):
            assert (r.key, r.value, list(r.headers), r.timestamp) == (key, value, headers, ts)
            assert r.timestamp_type == 0  # CreateTime


def test_offsets_lookups(bootstrap):
    topic = unique("kp-offsets")
    create_topic(bootstrap, topic, 1)
    base = int(time.time() * 1000) - 60_000
    producer = make_producer(bootstrap, linger_ms=0)
    try:
        for i in range(5):
            producer.send(topic, value=b"%d" % i, partition=0, timestamp_ms=base + 1000 * i).get(
                timeout=10
            )
    finally:
        producer.close(timeout=5)
    consumer = make_consumer(bootstrap, group_id=None)
    tp = TopicPartition(topic, 0)
    try:
        assert consumer.beginning_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 0}
        assert consumer.end_offsets([tp], timeout_ms=TIMEOUT_MS) == {tp: 5}
        found = consumer.offsets_for_times({tp: base + 1500}, timeout_ms=TIMEOUT_MS)[tp]
        assert (found.offset, found.timestamp) == (2, base + 2000)
        assert consumer.offsets_for_times({tp: base + 9000}, timeout_ms=TIMEOUT_MS)[tp] is None
    finally:
        consumer.close(autocommit=False, timeout_ms=5000)


def test_default_idempotent_producer(bootstrap):
    """kafka-python's defaults (idempotence on, acks=all) against the mock."""
    topic = unique("kp-idem")
    create_topic(bootstrap, topic, 3)
    producer = KafkaProducer(
        bootstrap_servers=servers(bootstrap), request_timeout_ms=TIMEOUT_MS, max_block_ms=TIMEOUT_MS
    )
    try:
        futures = [producer.send(topic, value=b"%05d" % i, partition=i % 3) for i in range(3000)]
        producer.flush(timeout=15)
        metas = [f.get(timeout=10) for f in futures]
    finally:
        producer.close(timeout=5)
    for p in range(3):
        assert sorted(m.offset for m in metas if m.partition == p) == list(range(1000))
    consumer = make_consumer(bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        assert consumer.end_offsets(tps, timeout_ms=TIMEOUT_MS) == {tp: 1000 for tp in tps}
    finally:
        consumer.close(autocommit=False, timeout_ms=5000)


@pytest.mark.cap(60)
def test_group_consumer_commit_and_resume(bootstrap):
    topic = unique("kp-group")
    create_topic(bootstrap, topic, 2)
    group = unique("kp-grp")
    producer = make_producer(bootstrap)
    try:
        for i in range(10):
            producer.send(topic, value=b"a%d" % i, partition=i % 2)
        producer.flush(timeout=20)

        consumer = make_consumer(bootstrap, group_id=group)
        try:
            consumer.subscribe([topic])
            records = poll_records(consumer, 10, 20)
            assert sorted(r.value for r in records) == sorted(b"a%d" % i for i in range(10))
            consumer.commit(timeout_ms=TIMEOUT_MS)
            for p in range(2):
                assert consumer.committed(TopicPartition(topic, p), timeout_ms=TIMEOUT_MS) == 5
        finally:
            consumer.close(autocommit=False, timeout_ms=5000)

        for i in range(4):
            producer.send(topic, value=b"b%d" % i, partition=i % 2)
        producer.flush(timeout=20)
    finally:
        producer.close(timeout=5)

    again = make_consumer(bootstrap, group_id=group)
    try:
        again.subscribe([topic])
        records = poll_records(again, 4, 20)
        assert sorted((r.partition, r.offset, r.value) for r in records) == [
            (0, 5, b"b0"),
            (0, 6, b"b2"),
            (1, 5, b"b1"),
            (1, 6, b"b3"),
        ]
    finally:
        again.close(autocommit=False, timeout_ms=5000)


def test_admin_create_list_delete(bootstrap):
    admin = make_admin(bootstrap)
    name = unique("kp-admin")
    try:
        admin.create_topics({name: {"num_partitions": 3, "replication_factor": 2}})
        wait_until(lambda: name in admin.list_topics(), 10, "topic listed")
        [desc] = admin.describe_topics([name])
        assert len(desc["partitions"]) == 3
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({name: {"num_partitions": 1, "replication_factor": 1}})
        admin.create_partitions({name: 4})
        wait_until(
            lambda: len(admin.describe_topics([name])[0]["partitions"]) == 4, 10, "4 partitions"
        )
        admin.delete_topics([name])
        wait_until(lambda: name not in admin.list_topics(), 10, "topic gone")
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics([name])
    finally:
        admin.close()
