"""Our client (the `kfk` tool) and the Java reference client (kafka-clients,
from the same Maven install as the broker) reading each other's records on
a real 3-node Apache Kafka cluster, both directions: every codec, keys and
null keys, headers, and null values from Java (`kfk produce` cannot write
a null value). Interleaved Java transactions read
with read_committed are in `test_read_committed.py`.

The Java side is `interop/java/KafkaPeer.java`, compiled at test time; it
speaks JSON lines on stdin and stdout.
"""

import json

import pytest

from conftest import kfk, unique

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def java_records(done) -> list:
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]


def kfk_records(bootstrap: str, topic: str, count: int) -> list:
    out = kfk("-b", bootstrap, "consume", "-t", topic, "-e", "-f", "json", timeout=60)
    records = [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
    assert len(records) == count, out.stderr.decode()
    return records


def sample(i: int, codec: str) -> dict:
    """Record i of a run: some null keys and values, and headers."""
    return {
        "key": None if i % 10 == 3 else f"k{i % 7}",
        "value": None if i % 25 == 0 else f"value {i} {codec} \u00e9",
        "headers": [["i", str(i)], ["codec", codec], ["dup", "a"], ["dup", "b"]],
        "timestamp": 1_700_000_000_000 + i,
    }


@pytest.mark.cap(180)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_reads_what_java_produces(kafka_cluster, java_peer, codec):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"java-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "3")
    sent = [sample(i, codec) for i in range(150)]
    java_peer(
        "produce", "--bootstrap", bootstrap, "--topic", topic,
        "--compression", codec, "--idempotent",
        stdin="\n".join(json.dumps(r) for r in sent).encode() + b"\n",
    )
    got = kfk_records(bootstrap, topic, len(sent))
    by_ts = {r["timestamp"]: r for r in sent}
    for r in got:
        want = by_ts[r["timestamp"]]
        assert (r["key"], r["value"]) == (want["key"], want["value"])
        assert r["headers"] == want["headers"]
    assert sorted(r["timestamp"] for r in got) == sorted(by_ts)
    # Per partition, offsets are consecutive from 0.
    for part in range(3):
        offsets = [r["offset"] for r in got if r["partition"] == part]
        assert sorted(offsets) == list(range(len(offsets)))


@pytest.mark.cap(180)
@pytest.mark.parametrize("codec", CODECS)
def test_java_reads_what_kfk_produces(kafka_cluster, java_peer, codec):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"kfk-java-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "3")
    lines = [f"key-{i % 5}|value {i} {codec} \u00e9".encode() for i in range(200)]
    kfk(
        "-b", bootstrap, "produce", "-t", topic, "-K", "|", "-H", "origin=kfk",
        "--compression", codec, "--acks", "all", "--idempotent",
        stdin=b"\n".join(lines) + b"\n",
    )
    # Without -K the keys are null.
    kfk(
        "-b", bootstrap, "produce", "-t", topic, "-H", "origin=kfk",
        "--compression", codec, "--acks", "all", "--idempotent",
        stdin=b"".join(f"value {i} unkeyed\n".encode() for i in range(200, 240)),
    )
    got = java_records(java_peer(
        "consume", "--bootstrap", bootstrap, "--topic", topic, "--count", "240",
        "--isolation", "read_committed",
    ))
    assert len(got) == 240
    assert {(r["key"], r["value"]) for r in got} == {
        (f"key-{i % 5}", f"value {i} {codec} \u00e9") for i in range(200)
    } | {(None, f"value {i} unkeyed") for i in range(200, 240)}
    assert all(r["headers"] == [["origin", "kfk"]] for r in got)
    # One key, one partition.
    partitions = {}
    for r in got:
        if r["key"] is not None:
            partitions.setdefault(r["key"], set()).add(r["partition"])
    assert len(partitions) == 5 and all(len(p) == 1 for p in partitions.values())
    # Each partition in send order, offsets from 0 without gaps (the
    # peer prints records sorted by partition and offset).
    for part in range(3):
        mine = [r for r in got if r["partition"] == part]
        assert [r["offset"] for r in mine] == list(range(len(mine)))
        sent = [int(r["value"].split()[1]) for r in mine]
        assert sent == sorted(sent)


@pytest.mark.cap(240)
def test_java_transactions_commit_and_abort(kafka_cluster, java_peer):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("java-txn")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "1")

    def produce(prefix, *flags):
        records = [{"key": f"{prefix}{i}", "value": f"{prefix} {i}", "partition": 0} for i in range(5)]
        java_peer(
            "produce", "--bootstrap", bootstrap, "--topic", topic,
            "--transactional-id", unique("txn"), *flags,
            stdin="\n".join(json.dumps(r) for r in records).encode() + b"\n",
        )

    produce("committed")
    # kfk reads the committed transaction: 5 records, the commit marker
    # after them is not a record.
    got = kfk_records(bootstrap, topic, 5)
    assert [r["value"] for r in got] == [f"committed {i}" for i in range(5)]
    assert [r["offset"] for r in got] == list(range(5))

    produce("aborted", "--abort")
    produce("later")
    committed = java_records(java_peer(
        "consume", "--bootstrap", bootstrap, "--topic", topic, "--count", "10",
        "--isolation", "read_committed",
    ))
    assert [r["value"] for r in committed] == (
        [f"committed {i}" for i in range(5)] + [f"later {i}" for i in range(5)]
    )
    everything = java_records(java_peer(
        "consume", "--bootstrap", bootstrap, "--topic", topic, "--count", "15",
        "--isolation", "read_uncommitted",
    ))
    assert len(everything) == 15
    assert [r["value"] for r in everything][5:10] == [f"aborted {i}" for i in range(5)]
