"""Our client (through the `kfk` tool) and librdkafka (confluent-kafka) /
kafka-python reading each other's records on a real 3-node Apache Kafka
cluster (the session's `kafka_cluster`), in both directions.

Every codec (none, gzip, snappy, lz4, zstd), several partitions with the
order inside each checked against the send order, keys and null keys,
values and null values (tombstones: `kfk produce -Z` sends an empty line
or an empty key as null), headers
(repeated names, null header values) and timestamps.

One cheap check stays on Tansu, a second broker implementation: a single
codec in both directions with librdkafka (skipped without a Tansu install
unless KAFKA_REQUIRE_TANSU=1).

Transactions and read_committed are in `test_read_committed.py`; the Java
client is in `test_java_peer.py`.
"""

import base64
import json
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from conftest import kfk, unique

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


# ------------------------------------------------------------------ helpers


def read_with_librdkafka(bootstrap, topic, partitions, count, timeout=30.0, isolation="read_committed"):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("g"),
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "log_level": 3,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                # A dropped connection is retried by librdkafka (and
                # end-of-partition events are off); anything else is a real
                # error the test should see.
                if m.error().code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                    continue
                pytest.fail(f"librdkafka consumer error: {m.error()}")
            out.append(m)
        return out
    finally:
        c.close()


def read_with_kafka_python(bootstrap, topic, partitions, count, timeout=30.0, isolation="read_committed"):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level=isolation,
        consumer_timeout_ms=int(timeout * 1000),
    )
    try:
        tps = [KpTopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        c.close()


def kfk_json(bootstrap, topic, *flags) -> list:
    """`kfk consume -e -f json` of the whole topic, in the order printed."""
    out = kfk("-b", bootstrap, "consume", "-t", topic, "-e", "-f", "json", *flags, timeout=60)
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def decode(v):
    """kfk's JSON bytes (a string, `{"base64": ...}` or null) as bytes."""
    if v is None:
        return None
    if isinstance(v, dict):
        return base64.b64decode(v["base64"])
    return v.encode()


def assert_partition_order(records, seq, partitions):
    """Per partition, in the order a reader returned them: offsets rise
    one by one from 0 (no gaps: nothing else was written) and the send
    sequence numbers `seq(record)` rise too."""
    seen = set()
    for p in range(partitions):
        mine = [r for r in records if r[0] == p]
        assert [r[1] for r in mine] == list(range(len(mine))), f"partition {p} offsets"
        order = [seq(r[2]) for r in mine]
        assert order == sorted(order), f"partition {p} is out of send order"
        seen.add(p)
    assert all(r[0] in seen for r in records)


# ------------------------------------------------- kfk writes, peers read


def kfk_lines(codec, n):
    return [f"key-{i % 5}|{i} value {codec} \u00e9".encode() for i in range(n)]


@pytest.mark.cap(120)
@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_and_kafka_python_read_what_kfk_produces(kafka_cluster, codec):
    """Keyed records (one key, one partition) and null-keyed ones, written
    idempotently by kfk with this codec and two headers, read by both peers
    with read_committed."""
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"kfk-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "3")
    before = int(time.time() * 1000)
    keyed = kfk_lines(codec, 200)
    kfk(
        "-b", bootstrap, "produce", "-t", topic, "-K", "|", "-H", "origin=kfk", "-H", "codec=" + codec,
        "--compression", codec, "--acks", "all", "--idempotent",
        stdin=b"\n".join(keyed) + b"\n",
    )
    # No -K: null keys, spread by the partitioner; numbered after the keyed ones.
    unkeyed = [f"{i} unkeyed {codec}".encode() for i in range(200, 260)]
    kfk(
        "-b", bootstrap, "produce", "-t", topic, "-H", "origin=kfk", "-H", "codec=" + codec,
        "--compression", codec, "--acks", "all", "--idempotent",
        stdin=b"\n".join(unkeyed) + b"\n",
    )
    after = int(time.time() * 1000)
    expected = {(f"key-{i % 5}".encode(), f"{i} value {codec} \u00e9".encode()) for i in range(200)}
    expected |= {(None, v) for v in unkeyed}
    headers = [("origin", b"kfk"), ("codec", codec.encode())]

    def seq(value: bytes) -> int:
        return int(value.split(b" ", 1)[0])

    got = read_with_librdkafka(bootstrap, topic, 3, len(expected))
    assert len(got) == len(expected)
    assert {(m.key(), m.value()) for m in got} == expected
    for m in got:
        assert m.headers() == headers
        _, ts = m.timestamp()
        assert before - 1000 <= ts <= after + 1000
    assert_partition_order([(m.partition(), m.offset(), m.value()) for m in got], seq, 3)
    by_key = {}
    for m in got:
        if m.key() is not None:
            by_key.setdefault(m.key(), set()).add(m.partition())
    assert len(by_key) == 5 and all(len(p) == 1 for p in by_key.values())

    got = read_with_kafka_python(bootstrap, topic, 3, len(expected))
    assert len(got) == len(expected)
    assert {(r.key, r.value) for r in got} == expected
    assert all(list(r.headers) == headers for r in got)
    assert all(before - 1000 <= r.timestamp <= after + 1000 for r in got)
    assert_partition_order([(r.partition, r.offset, r.value) for r in got], seq, 3)


@pytest.mark.cap(90)
def test_peers_read_the_nulls_kfk_writes_with_z(kafka_cluster):
    """`kfk produce -Z`: an empty value is a tombstone and an empty key a
    null key; without -Z both stay empty byte strings. Both peers must read
    null where kfk wrote null and b"" where it wrote empty."""
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("kfk-nulls")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "1")
    lines = b"k1|\n|v2\n|\nk4|v4\n"
    kfk("-b", bootstrap, "produce", "-t", topic, "-p", "0", "-K", "|", "-Z", stdin=lines)
    kfk("-b", bootstrap, "produce", "-t", topic, "-p", "0", "-K", "|", stdin=lines)
    expected = [
        (b"k1", None), (None, b"v2"), (None, None), (b"k4", b"v4"),
        (b"k1", b""), (b"", b"v2"), (b"", b""), (b"k4", b"v4"),
    ]
    got = read_with_librdkafka(bootstrap, topic, 1, len(expected))
    assert [(m.key(), m.value()) for m in sorted(got, key=lambda m: m.offset())] == expected
    got = read_with_kafka_python(bootstrap, topic, 1, len(expected))
    assert [(r.key, r.value) for r in sorted(got, key=lambda r: r.offset)] == expected


# ------------------------------------------------- peers write, kfk reads


def peer_record(i: int, codec: str, partitions: int, null_headers: bool = True) -> dict:
    """Record i of a peer's run: null keys, null values, binary values,
    repeated headers and (unless the peer cannot send one) a null header
    value among them."""
    key = None if i % 10 == 3 else f"k{i % 7}".encode()
    value = None if i % 25 == 0 else f"value {i} {codec} \u00e9".encode()
    if i % 31 == 7:
        value = bytes([0xFF, 0xFE, i % 256])
    headers = [("i", str(i).encode()), ("dup", b"a"), ("dup", b"b")]
    if i % 9 == 0:
        headers.append(("none", None) if null_headers else ("empty", b""))
    return {
        "partition": i % partitions,
        "key": key,
        "value": value,
        "headers": headers,
        "timestamp": 1_700_000_000_000 + i,
    }


def check_kfk_read(got, sent, partitions):
    """kfk printed every sent record once, byte for byte, each partition
    in send order with offsets from 0."""
    assert len(got) == len(sent)
    by_ts = {r["timestamp"]: r for r in sent}
    for r in got:
        want = by_ts[r["timestamp"]]
        assert r["partition"] == want["partition"]
        assert decode(r["key"]) == want["key"]
        assert decode(r["value"]) == want["value"]
        assert [(k, decode(v)) for k, v in r["headers"]] == want["headers"]
    assert sorted(r["timestamp"] for r in got) == sorted(by_ts)
    assert_partition_order([(r["partition"], r["offset"], r["timestamp"]) for r in got], lambda ts: ts, partitions)


@pytest.mark.cap(120)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_reads_what_librdkafka_produces(kafka_cluster, codec):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"rdk-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "3")
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.codec": codec,
            "linger.ms": 5,
            "enable.idempotence": True,
            "log_level": 3,
        }
    )
    sent = [peer_record(i, codec, 3) for i in range(300)]
    errors = []
    for r in sent:
        p.produce(
            topic, partition=r["partition"], key=r["key"], value=r["value"],
            headers=r["headers"], timestamp=r["timestamp"],
            on_delivery=lambda err, msg: err and errors.append(err),
        )
    assert p.flush(30) == 0
    assert errors == []
    check_kfk_read(kfk_json(bootstrap, topic), sent, 3)


@pytest.mark.cap(120)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_reads_what_kafka_python_produces(kafka_cluster, codec):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"kp-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "2")
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=None if codec == "none" else codec,
        acks="all",
        linger_ms=5,
    )
    # kafka-python refuses null header values.
    sent = [peer_record(i, codec, 2, null_headers=False) for i in range(200)]
    futures = [
        p.send(
            topic, partition=r["partition"], key=r["key"], value=r["value"],
            headers=r["headers"], timestamp_ms=r["timestamp"],
        )
        for r in sent
    ]
    p.flush(timeout=30)
    for f in futures:
        f.get(timeout=10)
    p.close(timeout=5)
    check_kfk_read(kfk_json(bootstrap, topic), sent, 2)


# ----------------------------------------------------- Tansu, one codec


@pytest.mark.cap(90)
def test_kfk_and_librdkafka_on_tansu(tansu):
    """The same exchange on a second broker implementation, one codec."""
    topic = unique("tansu")
    kfk("-b", tansu, "topic", "create", topic, "--partitions", "2")
    lines = kfk_lines("lz4", 100)
    kfk(
        "-b", tansu, "produce", "-t", topic, "-K", "|", "-H", "origin=kfk",
        "--compression", "lz4", "--acks", "all", "--idempotent",
        stdin=b"\n".join(lines) + b"\n",
    )
    # Tansu does not filter by isolation level; read_uncommitted is what it serves.
    got = read_with_librdkafka(tansu, topic, 2, 100, isolation="read_uncommitted")
    assert {(m.key(), m.value()) for m in got} == {
        (f"key-{i % 5}".encode(), f"{i} value lz4 \u00e9".encode()) for i in range(100)
    }
    assert all(m.headers() == [("origin", b"kfk")] for m in got)

    p = Producer({"bootstrap.servers": tansu, "compression.codec": "lz4", "linger.ms": 5, "log_level": 3})
    sent = [peer_record(i, "lz4", 2) for i in range(100)]
    for r in sent:
        p.produce(topic, partition=r["partition"], key=r["key"], value=r["value"],
                  headers=r["headers"], timestamp=r["timestamp"])
    assert p.flush(20) == 0
    by_ts = {r["timestamp"]: r for r in sent}
    got = [r for r in kfk_json(tansu, topic) if r["timestamp"] in by_ts]
    assert len(got) == 100
    for r in got:
        want = by_ts[r["timestamp"]]
        assert (decode(r["key"]), decode(r["value"])) == (want["key"], want["value"])
        assert [(k, decode(v)) for k, v in r["headers"]] == want["headers"]
