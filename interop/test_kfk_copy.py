"""`kfk copy` exactly once on the 3-node Apache Kafka cluster: 200,000
records copied while the copying process is SIGKILLed and started again
several times and the transaction coordinator's broker is SIGKILLed once;
librdkafka's and the Java client's read_committed consumers then see the
source's records in the target exactly once and, partition by partition,
in the source's order."""

import json
import random
import subprocess
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from conftest import kfk, kfk_bin, unique
from test_kfk_interop import read_with_librdkafka

PARTITIONS = 3
RECORDS = 200_000
# What the testkit broker sets (transaction.state.log.num.partitions).
TXN_STATE_PARTITIONS = 5


def java_string_hash(s: str) -> int:
    """Java's String.hashCode, which Kafka uses to place a transactional
    id on a partition of __transaction_state."""
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def txn_coordinator(bootstrap: str, transactional_id: str) -> int:
    """The broker leading the transactional id's __transaction_state
    partition: its transaction coordinator."""
    partition = (java_string_hash(transactional_id) & 0x7FFFFFFF) % TXN_STATE_PARTITIONS
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    md = admin.list_topics(topic="__transaction_state", timeout=30)
    return md.topics["__transaction_state"].partitions[partition].leader


def start_copy(bootstrap, src, dst, group, txn_id, *extra):
    return subprocess.Popen(
        [str(kfk_bin()), "-b", bootstrap,
         "-X", "session.timeout.ms=10000", "-X", "heartbeat.interval.ms=1000",
         "copy", "--from", src, "--to", dst, "-G", group,
         "--transactional-id", txn_id, "--batch", "1000", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def sigkill(proc):
    proc.kill()
    proc.wait(timeout=30)


@pytest.mark.cap(600)
def test_kfk_copy_is_exactly_once_through_process_and_coordinator_kills(kafka_cluster, java_peer):
    bootstrap = kafka_cluster["bootstrap"]
    src, dst = unique("copy-src"), unique("copy-dst")
    group, txn_id = unique("copiers"), unique("copy-txn")
    for t in (src, dst):
        kfk("-b", bootstrap, "topic", "create", t, "--partitions", str(PARTITIONS))
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3, "linger.ms": 20,
                  "enable.idempotence": True})
    for i in range(RECORDS):
        while True:
            try:
                p.produce(src, key=f"k{i % 17}".encode(), value=f"v{i}".encode())
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(120) == 0
    source = read_with_librdkafka(bootstrap, src, PARTITIONS, RECORDS, timeout=120)
    assert len(source) == RECORDS
    source_order = {q: [m.value() for m in source if m.partition() == q] for q in range(PARTITIONS)}

    rng = random.Random(7)
    started = time.monotonic()
    # Process kills at random points, the second run through a SIGKILL of
    # the transaction coordinator's broker (and its restart).
    for run in range(4):
        copy = start_copy(bootstrap, src, dst, group, txn_id)
        try:
            if run == 1:
                time.sleep(3)
                node = txn_coordinator(bootstrap, txn_id)
                kafka_cluster["control"](f"kill {node}")
                try:
                    time.sleep(8)
                finally:
                    kafka_cluster["control"](f"restart {node}")
            time.sleep(rng.uniform(1.0, 4.0))
            assert copy.poll() is None, copy.stderr.read().decode(errors="replace")[-3000:]
        finally:
            sigkill(copy)
    final = start_copy(bootstrap, src, dst, group, txn_id, "-e")
    try:
        _, err = final.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        final.kill()
        _, err = final.communicate()
        pytest.fail(f"the last copy did not reach the end: {err.decode(errors='replace')[-3000:]}")
    assert final.returncode == 0, err.decode(errors="replace")[-3000:]
    print(f"copied {RECORDS} records through 4 kills in {time.monotonic() - started:.1f} s")

    # librdkafka, read_committed: each partition exactly the source's.
    copied = read_with_librdkafka(bootstrap, dst, PARTITIONS, RECORDS, timeout=120)
    by_partition = {q: [m.value() for m in copied if m.partition() == q] for q in range(PARTITIONS)}
    for q in range(PARTITIONS):
        assert by_partition[q] == source_order[q], f"librdkafka, partition {q}"
    # Nothing after them: kfk's own read_committed count agrees.
    out = kfk("-b", bootstrap, "offsets", "-t", dst)
    print(out.stdout.decode())
    counted = kfk("-b", bootstrap, "consume", "-t", dst, "-e", "--isolation", "read_committed",
                  timeout=180)
    assert len(counted.stdout.decode().splitlines()) == RECORDS

    # The Java client, read_committed.
    done = java_peer("consume", "--bootstrap", bootstrap, "--topic", dst,
                     "--count", str(RECORDS), "--isolation", "read_committed",
                     "--timeout-ms", "150000", timeout=240)
    java = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    assert len(java) == RECORDS
    for q in range(PARTITIONS):
        got = [r["value"].encode() for r in java if r["partition"] == q]
        assert got == source_order[q], f"Java, partition {q}"
