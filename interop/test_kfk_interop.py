"""Our client (through the `kfk` tool) and librdkafka / kafka-python
reading each other's records on a real broker (Tansu).

What kfk produces, with every codec, keys, headers and timestamps, the
other clients read identically; and the reverse, once kfk consumes.
"""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from conftest import kfk, unique

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def read_with_librdkafka(bootstrap, topic, partitions, count, timeout=20.0):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("g"),
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
        return out
    finally:
        c.close()


def read_with_kafka_python(bootstrap, topic, partitions, count, timeout=20.0):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
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


@pytest.mark.cap(90)
@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_and_kafka_python_read_what_kfk_produces(tansu, codec):
    topic = unique(f"kfk-{codec}")
    kfk("-b", tansu, "topic", "create", topic, "--partitions", "3")
    lines = [f"key-{i % 5}|value {i} {codec} \u00e9".encode() for i in range(200)]
    before = int(time.time() * 1000)
    kfk(
        "-b", tansu, "produce", "-t", topic, "-K", "|", "-H", "origin=kfk", "-H", "codec=" + codec,
        "--compression", codec, "--acks", "all", "--idempotent",
        stdin=b"\n".join(lines) + b"\n",
    )
    after = int(time.time() * 1000)
    expected = {(f"key-{i % 5}".encode(), f"value {i} {codec} \u00e9".encode()) for i in range(200)}

    got = read_with_librdkafka(tansu, topic, 3, 200)
    assert len(got) == 200
    assert {(m.key(), m.value()) for m in got} == expected
    for m in got:
        assert m.headers() == [("origin", b"kfk"), ("codec", codec.encode())]
        _, ts = m.timestamp()
        assert before - 1000 <= ts <= after + 1000
    # Same key, same partition, in send order.
    by_key = {}
    for m in sorted(got, key=lambda m: (m.partition(), m.offset())):
        by_key.setdefault(m.key(), set()).add(m.partition())
    assert all(len(p) == 1 for p in by_key.values())

    got = read_with_kafka_python(tansu, topic, 3, 200)
    assert len(got) == 200
    assert {(r.key, r.value) for r in got} == expected
    assert all(list(r.headers) == [("origin", b"kfk"), ("codec", codec.encode())] for r in got)


def kfk_json(tansu, topic, count):
    out = kfk("-b", tansu, "consume", "-t", topic, "-e", "-f", "json", timeout=60)
    import json

    records = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(records) == count, out.stderr.decode()
    return records


@pytest.mark.cap(90)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_reads_what_librdkafka_produces(tansu, codec):
    from confluent_kafka import Producer

    topic = unique(f"rdk-{codec}")
    kfk("-b", tansu, "topic", "create", topic, "--partitions", "2")
    p = Producer(
        {
            "bootstrap.servers": tansu,
            "compression.codec": codec,
            "linger.ms": 5,
            "enable.idempotence": True,
            "log_level": 3,
        }
    )
    sent = {}
    for i in range(300):
        key = f"k{i % 7}".encode()
        value = None if i % 50 == 0 else f"value {i} \u00e9".encode()
        if i % 31 == 0:
            value = bytes([0xFF, 0xFE, i % 256])
        ts = 1_700_000_000_000 + i
        p.produce(
            topic,
            key=key,
            value=value,
            headers=[("i", str(i).encode()), ("dup", b"a"), ("dup", b"b")],
            timestamp=ts,
        )
        sent[ts] = (key, value)
    assert p.flush(20) == 0

    got = kfk_json(tansu, topic, 300)
    import base64

    def decode(v):
        if v is None:
            return None
        if isinstance(v, dict):
            return base64.b64decode(v["base64"])
        return v.encode()

    for r in got:
        key, value = sent[r["timestamp"]]
        assert decode(r["key"]) == key
        assert decode(r["value"]) == value
        i = r["timestamp"] - 1_700_000_000_000
        assert r["headers"] == [["i", str(i)], ["dup", "a"], ["dup", "b"]]
    # Per partition, offsets are consecutive from 0.
    for part in (0, 1):
        offsets = [r["offset"] for r in got if r["partition"] == part]
        assert offsets == list(range(len(offsets)))


@pytest.mark.cap(90)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_reads_what_kafka_python_produces(tansu, codec):
    from kafka import KafkaProducer

    topic = unique(f"kp-{codec}")
    kfk("-b", tansu, "topic", "create", topic, "--partitions", "1")
    p = KafkaProducer(
        bootstrap_servers=tansu,
        compression_type=None if codec == "none" else codec,
    )
    for i in range(100):
        p.send(
            topic,
            key=f"k{i}".encode(),
            value=f"v{i}".encode(),
            headers=[("n", str(i).encode())],
            timestamp_ms=1_600_000_000_000 + i,
        )
    p.flush(timeout=20)
    p.close(timeout=5)
    got = kfk_json(tansu, topic, 100)
    for i, r in enumerate(sorted(got, key=lambda r: r["offset"])):
        assert r["offset"] == i
        assert (r["key"], r["value"]) == (f"k{i}", f"v{i}")
        assert r["timestamp"] == 1_600_000_000_000 + i
        assert r["headers"] == [["n", str(i)]]
