"""librdkafka (through confluent-kafka) against kafka-mock.

Every blocking call carries a timeout and every wait loop a deadline;
`conftest.py` caps each test as a whole.
"""

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import unique, wait_until

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
REQUEST_TIMEOUT = 10.0


# ---------------------------------------------------------------- helpers


def base_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10000,
        "reconnect.backoff.max.ms": 1000,
        "log_level": 3,
    }
    conf.update(extra)
    return conf


def make_producer(bootstrap, **extra):
    conf = base_conf(bootstrap, **{"linger.ms": 20, "message.timeout.ms": 20000})
    conf.update(extra)
    return Producer(conf)


def make_consumer(bootstrap, group=None, **extra):
    conf = base_conf(
        bootstrap,
        **{
            "group.id": group or unique("reader"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        },
    )
    conf.update(extra)
    return Consumer(conf)


def make_admin(bootstrap, **extra):
    return AdminClient(base_conf(bootstrap, **extra))


def create_topic(bootstrap, name, partitions, replication=1, config=None):
    admin = make_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication, config=config or {})],
        request_timeout=REQUEST_TIMEOUT,
    )
    futures[name].result(timeout=REQUEST_TIMEOUT + 5)
    wait_until(
        lambda: len(admin.list_topics(name, timeout=REQUEST_TIMEOUT).topics[name].partitions)
        == partitions,
        10,
        f"topic {name} visible in metadata",
    )


def produce_all(producer, records, timeout=30.0):
    """Produces `records` (dicts of Producer.produce arguments), waits for
    every delivery report and returns the delivered messages in order."""
    delivered, failed = [], []

    def on_delivery(err, msg):
        (failed if err else delivered).append((err, msg))

    for r in records:
        while True:
            try:
                producer.produce(on_delivery=on_delivery, **r)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(timeout)
    assert left == 0, f"{left} messages still undelivered after {timeout}s"
    assert not failed, f"delivery failed: {failed[:3]}"
    return [m for _, m in delivered]


def consume(consumer, count, timeout, until=None):
    """Polls until `count` messages arrived (or `until(messages)` holds);
    returns them. Transient client errors are logged and tolerated."""
    got, errors = [], []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            errors.append(m.error())
            continue
        got.append(m)
        if (until is not None and until(got)) or (until is None and len(got) >= count):
            return got
    pytest.fail(
        f"consumed {len(got)} of {count} messages in {timeout}s; client errors: {errors[-3:]}"
    )


def by_partition(messages):
    parts = {}
    for m in messages:
        parts.setdefault(m.partition(), []).append(m)
    return parts


# ------------------------------------------------------------ 1. codecs


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_every_codec(bootstrap, codec):
    topic = unique(f"codec-{codec}")
    create_topic(bootstrap, topic, 3)
    base_ts = int(time.time() * 1000) - 3_600_000
    expected = {}
    records = []
    for p in range(3):
        for i in range(40):
            key = None if i % 5 == 0 else f"key-{i}".encode()
            value = None if i % 7 == 3 else (f"{codec}/{p}/{i} " * (1 + i % 4)).encode()
            headers = (
                [("dup", b"first"), ("dup", b"second"), ("empty", None), ("i", str(i).encode())]
                if i % 2 == 0
                else None
            )
            ts = base_ts + p * 10_000 + i
            records.append(
                dict(topic=topic, partition=p, key=key, value=value, headers=headers, timestamp=ts)
            )
            expected.setdefault(p, []).append((key, value, headers, ts))

    producer = make_producer(bootstrap, **{"compression.type": codec})
    delivered = produce_all(producer, records)
    assert len(delivered) == 120

    consumer = make_consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
        got = by_partition(consume(consumer, 120, 30))
    finally:
        consumer.close()
    assert sorted(got) == [0, 1, 2]
    for p in range(3):
        msgs = got[p]
        assert [m.offset() for m in msgs] == list(range(40)), f"partition {p} offsets"
        for m, (key, value, headers, ts) in zip(msgs, expected[p]):
            assert m.topic() == topic
            assert m.key() == key
            assert m.value() == value
            assert m.headers() == headers
            assert m.timestamp() == (TIMESTAMP_CREATE_TIME, ts)


def test_log_append_time(start_mock):
    bootstrap = start_mock("--log-append-time")
    topic = unique("lat")
    create_topic(bootstrap, topic, 1)
    before = int(time.time() * 1000)
    produce_all(
        make_producer(bootstrap, **{"compression.type": "lz4"}),
        [dict(topic=topic, partition=0, value=b"v%d" % i, timestamp=1_000 + i) for i in range(5)],
    )
    after = int(time.time() * 1000)
    consumer = make_consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msgs = consume(consumer, 5, 20)
    finally:
        consumer.close()
    for m in msgs:
        kind, ts = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert before - 5_000 <= ts <= after + 5_000, (before, ts, after)


# ------------------------------------------------------ 2. idempotence


@pytest.mark.cap(90)
def test_idempotent_producer_large_batch(bootstrap):
    topic = unique("idem")
    create_topic(bootstrap, topic, 3)
    producer = make_producer(
        bootstrap,
        **{
            "enable.idempotence": True,
            "compression.type": "zstd",
            "linger.ms": 50,
            "message.timeout.ms": 20000,
        },
    )
    n = 20_000
    records = [
        dict(topic=topic, partition=i % 3, key=str(i).encode(), value=b"%08d" % i + b"x" * 100)
        for i in range(n)
    ]
    delivered = produce_all(producer, records, timeout=45)
    assert len(delivered) == n

    # The log holds each record once: the high watermarks add up to n.
    consumer = make_consumer(bootstrap)
    try:
        highs = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=REQUEST_TIMEOUT)[1]
            for p in range(3)
        ]
        assert sum(highs) == n, highs
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
        msgs = consume(consumer, n, 40)
    finally:
        consumer.close()
    keys = [int(m.key()) for m in msgs]
    assert len(set(keys)) == n
    for p, part in by_partition(msgs).items():
        ks = [int(m.key()) for m in part]
        assert ks == sorted(ks), f"partition {p} out of order"
        assert [m.offset() for m in part] == list(range(len(part)))


# ------------------------------------------------ 3. consumer groups


@pytest.mark.cap(90)
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_consumer_group_rebalance_commit_resume(bootstrap, strategy):
    topic = unique("grp")
    create_topic(bootstrap, topic, 4)
    group = unique("group")
    conf = {"partition.assignment.strategy": strategy}
    producer = make_producer(bootstrap)
    a = make_consumer(bootstrap, group, **conf)
    b = make_consumer(bootstrap, group, **conf)
    consumers = {"a": a, "b": b}
    got = {"a": [], "b": []}

    def poll_all():
        for name, c in list(consumers.items()):
            m = c.poll(0.05)
            if m is not None and not m.error():
                got[name].append(m)

    def parts(c):
        return {tp.partition for tp in c.assignment()}

    try:
        a.subscribe([topic])
        b.subscribe([topic])
        wait_until(
            lambda: parts(a) and parts(b) and parts(a) | parts(b) == {0, 1, 2, 3},
            25,
            f"both members assigned ({strategy})",
            step=poll_all,
        )
        assert not parts(a) & parts(b), "a partition assigned to both members"
        owners = {p: name for name, c in consumers.items() for p in parts(c)}

        produce_all(
            producer,
            [dict(topic=topic, partition=p, value=b"first-%d" % i) for p in range(4) for i in range(10)],
        )
        wait_until(lambda: len(got["a"]) + len(got["b"]) >= 40, 20, "40 messages", step=poll_all)
        for name in ("a", "b"):
            assert all(owners[m.partition()] == name for m in got[name]), "message for a foreign partition"
        for c in (a, b):
            c.commit(asynchronous=False)
            committed = c.committed(c.assignment(), timeout=REQUEST_TIMEOUT)
            assert {(tp.partition, tp.offset) for tp in committed} == {(p, 10) for p in parts(c)}

        # a leaves: b takes everything over and resumes a's partitions at
        # the committed offsets.
        a.close()
        del consumers["a"]
        wait_until(lambda: parts(b) == {0, 1, 2, 3}, 25, "b owns all partitions", step=poll_all)
        got["b"].clear()
        produce_all(
            producer,
            [dict(topic=topic, partition=p, value=b"second-%d" % i) for p in range(4) for i in range(5)],
        )
        wait_until(lambda: len(got["b"]) >= 20, 20, "20 more messages on b", step=poll_all)
        for p, msgs in by_partition(got["b"]).items():
            assert [m.offset() for m in msgs] == list(range(10, 15)), f"partition {p} resumed wrongly"
        b.commit(asynchronous=False)
        committed = b.committed([TopicPartition(topic, p) for p in range(4)], timeout=REQUEST_TIMEOUT)
        assert [tp.offset for tp in committed] == [15] * 4
        b.close()
        del consumers["b"]

        # A new member of the group starts where the group left off.
        produce_all(producer, [dict(topic=topic, partition=p, value=b"third") for p in range(4)])
        c = make_consumer(bootstrap, group, **conf)
        consumers["c"] = c
        got["c"] = []
        c.subscribe([topic])
        wait_until(lambda: len(got["c"]) >= 4, 25, "new member gets 4 messages", step=poll_all)
        assert sorted((m.partition(), m.offset(), m.value()) for m in got["c"]) == [
            (p, 15, b"third") for p in range(4)
        ]
    finally:
        for c in consumers.values():
            c.close()


# ------------------------------------------------- 4. transactions


@pytest.mark.cap(60)
def test_transactions_commit_and_abort(bootstrap):
    topic = unique("txn")
    create_topic(bootstrap, topic, 1)
    producer = make_producer(
        bootstrap, **{"transactional.id": unique("tx"), "transaction.timeout.ms": 20000}
    )
    producer.init_transactions(REQUEST_TIMEOUT)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=b"committed-%d" % i)
    producer.commit_transaction(REQUEST_TIMEOUT)

    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=b"aborted-%d" % i)
    assert producer.flush(REQUEST_TIMEOUT) == 0
    producer.abort_transaction(REQUEST_TIMEOUT)

    producer.begin_transaction()
    producer.produce(topic, value=b"last")
    producer.commit_transaction(REQUEST_TIMEOUT)

    def read(isolation):
        c = make_consumer(bootstrap, **{"isolation.level": isolation})
        try:
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            msgs = consume(c, 0, 20, until=lambda got: got[-1].value() == b"last")
        finally:
            c.close()
        return [m.value() for m in msgs]

    committed = [b"committed-%d" % i for i in range(5)]
    aborted = [b"aborted-%d" % i for i in range(5)]
    assert read("read_committed") == committed + [b"last"]
    assert read("read_uncommitted") == committed + aborted + [b"last"]


@pytest.mark.cap(60)
def test_transactions_consume_transform_produce(bootstrap):
    source, sink = unique("ctp-in"), unique("ctp-out")
    create_topic(bootstrap, source, 2)
    create_topic(bootstrap, sink, 1)
    produce_all(
        make_producer(bootstrap),
        [dict(topic=source, partition=i % 2, value=b"word-%d" % i) for i in range(10)],
    )
    group = unique("ctp")
    consumer = make_consumer(bootstrap, group, **{"isolation.level": "read_committed"})
    producer = make_producer(
        bootstrap, **{"transactional.id": unique("ctp-tx"), "transaction.timeout.ms": 20000}
    )
    try:
        consumer.subscribe([source])
        msgs = consume(consumer, 10, 20)
        producer.init_transactions(REQUEST_TIMEOUT)
        producer.begin_transaction()
        for m in msgs:
            producer.produce(sink, value=m.value().upper())
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(
            positions, consumer.consumer_group_metadata(), REQUEST_TIMEOUT
        )
        producer.commit_transaction(REQUEST_TIMEOUT)

        committed = consumer.committed(
            [TopicPartition(source, p) for p in range(2)], timeout=REQUEST_TIMEOUT
        )
        assert sorted((tp.partition, tp.offset) for tp in committed) == [(0, 5), (1, 5)]
    finally:
        consumer.close()

    reader = make_consumer(bootstrap, **{"isolation.level": "read_committed"})
    try:
        reader.assign([TopicPartition(sink, 0, OFFSET_BEGINNING)])
        out = consume(reader, 10, 20)
    finally:
        reader.close()
    assert sorted(m.value() for m in out) == sorted(b"WORD-%d" % i for i in range(10))


# ---------------------------------------------- 5. static membership


@pytest.mark.cap(90)
def test_static_member_rejoins_without_rebalance(bootstrap):
    topic = unique("static")
    create_topic(bootstrap, topic, 4)
    group = unique("static-group")
    events = {"a": [], "b": [], "a2": []}

    def member(name, instance):
        def on_assign(c, tps):
            events[name].append(("assign", sorted(tp.partition for tp in tps)))

        def on_revoke(c, tps):
            events[name].append(("revoke", sorted(tp.partition for tp in tps)))

        c = make_consumer(
            bootstrap,
            group,
            **{"group.instance.id": instance, "session.timeout.ms": 15000},
        )
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
        return c

    def parts(c):
        return {tp.partition for tp in c.assignment()}

    live = {}
    try:
        live["a"] = member("a", "instance-a")
        live["b"] = member("b", "instance-b")

        def poll_all():
            for c in list(live.values()):
                c.poll(0.05)

        wait_until(
            lambda: parts(live["a"]) and parts(live["b"])
            and parts(live["a"]) | parts(live["b"]) == {0, 1, 2, 3},
            25,
            "both static members assigned",
            step=poll_all,
        )
        # Let any trailing rebalance settle, then take b's history as the baseline.
        settle = time.monotonic() + 2
        while time.monotonic() < settle:
            poll_all()
        a_parts = parts(live["a"])
        b_parts = parts(live["b"])
        b_events = list(events["b"])

        live.pop("a").close()  # a static member sends no LeaveGroup
        live["a2"] = member("a2", "instance-a")
        wait_until(lambda: parts(live["a2"]), 20, "restarted member assigned", step=poll_all)
        settle = time.monotonic() + 3
        while time.monotonic() < settle:
            poll_all()
        assert parts(live["a2"]) == a_parts
        assert parts(live["b"]) == b_parts
        assert events["b"] == b_events, "the other member was rebalanced"
    finally:
        for c in live.values():
            c.close()


# ------------------------------------------------ 6. list offsets


def test_offsets_for_times_and_watermarks(bootstrap):
    topic = unique("times")
    create_topic(bootstrap, topic, 1)
    base = int(time.time() * 1000) - 600_000
    produce_all(
        make_producer(bootstrap, **{"linger.ms": 0}),
        [dict(topic=topic, partition=0, value=b"%d" % i, timestamp=base + i * 1000) for i in range(5)],
    )
    consumer = make_consumer(bootstrap)
    try:
        assert consumer.get_watermark_offsets(
            TopicPartition(topic, 0), timeout=REQUEST_TIMEOUT, cached=False
        ) == (0, 5)

        def lookup(ts):
            [tp] = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=REQUEST_TIMEOUT)
            assert tp.error is None
            return tp.offset

        assert lookup(base - 1) == 0
        assert lookup(base) == 0
        assert lookup(base + 1500) == 2
        assert lookup(base + 4000) == 4
        assert lookup(base + 4001) == -1  # past the last record: no offset
    finally:
        consumer.close()

    admin = make_admin(bootstrap)
    tp = TopicPartition(topic, 0)
    for spec, offset in [
        (OffsetSpec.earliest(), 0),
        (OffsetSpec.latest(), 5),
        (OffsetSpec.for_timestamp(base + 2500), 3),
        (OffsetSpec.max_timestamp(), 4),
    ]:
        result = admin.list_offsets({tp: spec}, request_timeout=REQUEST_TIMEOUT)[tp].result(
            timeout=REQUEST_TIMEOUT + 5
        )
        assert result.offset == offset, spec


# ------------------------------------------------------- 7. admin


def test_admin_topics_lifecycle(bootstrap):
    admin = make_admin(bootstrap)
    name = unique("admin")
    futures = admin.create_topics(
        [NewTopic(name, 3, 3, config={"retention.ms": "3600000", "cleanup.policy": "delete"})],
        request_timeout=REQUEST_TIMEOUT,
    )
    futures[name].result(timeout=REQUEST_TIMEOUT + 5)

    meta = admin.list_topics(timeout=REQUEST_TIMEOUT)
    assert name in meta.topics
    parts = meta.topics[name].partitions
    assert sorted(parts) == [0, 1, 2]
    brokers = set(meta.brokers)
    assert len(brokers) == 3
    for p in parts.values():
        assert p.leader in brokers
        assert len(p.replicas) == 3 and set(p.replicas) <= brokers

    again = admin.create_topics([NewTopic(name, 1, 1)], request_timeout=REQUEST_TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        again[name].result(timeout=REQUEST_TIMEOUT + 5)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    admin.create_partitions([NewPartitions(name, 5)], request_timeout=REQUEST_TIMEOUT)[name].result(
        timeout=REQUEST_TIMEOUT + 5
    )
    wait_until(
        lambda: len(admin.list_topics(name, timeout=REQUEST_TIMEOUT).topics[name].partitions) == 5,
        10,
        "5 partitions",
    )

    admin.delete_topics([name], request_timeout=REQUEST_TIMEOUT)[name].result(
        timeout=REQUEST_TIMEOUT + 5
    )
    wait_until(
        lambda: name not in admin.list_topics(timeout=REQUEST_TIMEOUT).topics, 10, "topic gone"
    )
    missing = admin.delete_topics([name], request_timeout=REQUEST_TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        missing[name].result(timeout=REQUEST_TIMEOUT + 5)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_admin_describe_cluster(bootstrap):
    admin = make_admin(bootstrap)
    desc = admin.describe_cluster(request_timeout=REQUEST_TIMEOUT).result(
        timeout=REQUEST_TIMEOUT + 5
    )
    assert desc.cluster_id
    assert sorted(n.id for n in desc.nodes) == [0, 1, 2]
    ports = {f"{n.host}:{n.port}" for n in desc.nodes}
    assert ports == set(bootstrap.split(","))
    assert desc.controller is not None and desc.controller.id in {0, 1, 2}


def test_admin_describe_and_alter_configs(bootstrap):
    admin = make_admin(bootstrap)
    name = unique("cfg")
    admin.create_topics(
        [NewTopic(name, 1, 1, config={"retention.ms": "3600000"})], request_timeout=REQUEST_TIMEOUT
    )[name].result(timeout=REQUEST_TIMEOUT + 5)
    resource = ConfigResource(ResourceType.TOPIC, name)

    def describe():
        [fut] = admin.describe_configs([resource], request_timeout=REQUEST_TIMEOUT).values()
        return fut.result(timeout=REQUEST_TIMEOUT + 5)

    entries = describe()
    assert entries["retention.ms"].value == "3600000"
    assert not entries["retention.ms"].is_default

    alter = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
        ],
    )
    [fut] = admin.incremental_alter_configs([alter], request_timeout=REQUEST_TIMEOUT).values()
    fut.result(timeout=REQUEST_TIMEOUT + 5)
    entries = describe()
    assert entries["retention.ms"].value == "7200000"
    assert entries["cleanup.policy"].value == "compact"

    reset = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)
        ],
    )
    [fut] = admin.incremental_alter_configs([reset], request_timeout=REQUEST_TIMEOUT).values()
    fut.result(timeout=REQUEST_TIMEOUT + 5)
    assert describe()["retention.ms"].value != "7200000"


# -------------------------------------------------------- 8. SASL

SASL = [
    ("PLAIN", "--sasl-plain"),
    ("SCRAM-SHA-256", "--sasl-scram-sha-256"),
    ("SCRAM-SHA-512", "--sasl-scram-sha-512"),
]


def sasl_conf(mechanism, user, password):
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


@pytest.mark.parametrize("mechanism,flag", SASL)
def test_sasl_authentication(start_mock, mechanism, flag):
    bootstrap = start_mock(flag, "alice:s3cret")
    topic = unique("sasl")
    good = sasl_conf(mechanism, "alice", "s3cret")
    produce_all(
        make_producer(bootstrap, **good, **{"message.timeout.ms": 10000}),
        [dict(topic=topic, partition=0, value=b"secret-%d" % i) for i in range(3)],
    )
    consumer = make_consumer(bootstrap, **good)
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        msgs = consume(consumer, 3, 20)
    finally:
        consumer.close()
    assert [m.value() for m in msgs] == [b"secret-%d" % i for i in range(3)]

    # A wrong password is refused with an authentication error.
    errors = []
    bad = make_producer(
        bootstrap, **sasl_conf(mechanism, "alice", "wrong"), error_cb=errors.append
    )
    with pytest.raises(KafkaException):
        bad.list_topics(timeout=5)
    wait_until(
        lambda: any(e.code() == KafkaError._AUTHENTICATION for e in errors),
        10,
        "an authentication error",
        step=lambda: bad.poll(0.1),
    )


def test_sasl_required(start_mock):
    """A client that skips authentication gets no metadata."""
    bootstrap = start_mock("--sasl-plain", "alice:s3cret")
    plain = make_admin(bootstrap)
    with pytest.raises(KafkaException):
        plain.list_topics(timeout=5)
