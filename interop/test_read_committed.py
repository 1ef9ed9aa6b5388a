"""Transactions written by other clients, read by ours: the Java reference
client and librdkafka (confluent-kafka) interleave committed and aborted
transactions and idempotent records on the same partitions of the
session's 3-node Apache Kafka cluster; `kfk consume -e -f json` must then
print, per partition and in offset order,

- with `--isolation read_committed`: exactly the committed records (the
  committed transactions and the non-transactional ones), stopping at the
  last stable offset while a transaction is still open, and no control
  records;
- with read_uncommitted (the default): every data record, aborted and
  open transactions included, and still no control records.

Every codec, both writers. The writers report each record's offset, so every offset kfk prints is
checked, not only the values; the peer's own read_committed consumer is
asked too and must agree with kfk.
"""

import json

import pytest
from confluent_kafka import Producer

from conftest import kfk, unique
from test_kfk_interop import CODECS, read_with_librdkafka


def kfk_read(bootstrap, topic, *flags) -> list:
    out = kfk("-b", bootstrap, "consume", "-t", topic, "-e", "-f", "json", *flags, timeout=60)
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


def by_partition(records) -> dict:
    """{partition: [(offset, key, value, headers), ...]} in the order given."""
    out = {}
    for r in records:
        out.setdefault(r["partition"], []).append((r["offset"], r["key"], r["value"], r["headers"]))
    return out


def check(got, want, what):
    """kfk printed `want` (records with their known offsets) and nothing
    else, each partition in offset order."""
    got_parts = by_partition(got)
    want_parts = by_partition(sorted(want, key=lambda r: (r["partition"], r["offset"])))
    assert sorted(got_parts) == sorted(want_parts), what
    for p, records in want_parts.items():
        assert got_parts[p] == records, f"{what}, partition {p}"


# ------------------------------------------------------------------- Java


def java_steps(partitions: int):
    """A script for KafkaPeer: producers txnA and txnB each keep a
    transaction open while the other and the idempotent producer write to
    the same partitions; then A commits and B aborts, and in a second
    round A aborts and B commits. Returns the steps and, per send, whether
    it ends up committed."""
    steps, committed = [], []

    def send(producer, n, ok):
        steps.append({
            "producer": producer,
            "partition": n % partitions,
            "key": None if n % 4 == 1 else f"{producer}-{n}",
            "value": None if n % 6 == 5 else f"{producer} {n} \u00e9",
            "headers": [["from", producer], ["n", str(n)]],
        })
        committed.append(ok)

    def op(producer, what):
        steps.append({"producer": producer, "op": what})

    n = 0
    for _ in range(3):
        send("idem", n, True)
        n += 1
    for round_ in range(2):
        op("txnA", "begin")
        op("txnB", "begin")
        for _ in range(8):
            send("txnA", n, round_ == 0)
            send("txnB", n + 1, round_ == 1)
            send("idem", n + 2, True)
            n += 3
        if round_ == 0:
            op("txnA", "commit")
            op("txnB", "abort")
        else:
            op("txnB", "commit")
            op("txnA", "abort")
        send("idem", n, True)
        n += 1
    return steps, committed


def as_kfk_json(step, partition, offset) -> dict:
    return {
        "partition": partition,
        "offset": offset,
        "key": step["key"],
        "value": step["value"],
        "headers": step["headers"],
    }


@pytest.mark.cap(240)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_read_committed_of_java_transactions(kafka_cluster, java_peer, codec):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"java-rc-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "2")
    steps, committed = java_steps(2)
    done = java_peer(
        "script", "--bootstrap", bootstrap, "--topic", topic,
        "--transactional-prefix", unique("java-txn"), "--compression", codec,
        stdin="\n".join(json.dumps(s) for s in steps).encode() + b"\n",
    )
    acks = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    sends = [s for s in steps if s.get("op", "send") == "send"]
    assert len(acks) == len(sends)
    written = []
    for step, ack, ok in zip(sends, acks, committed):
        assert ack["producer"] == step["producer"] and ack["partition"] == step["partition"]
        written.append((as_kfk_json(step, ack["partition"], ack["offset"]), ok))
    everything = [r for r, _ in written]
    only_committed = [r for r, ok in written if ok]
    assert 0 < len(only_committed) < len(everything)

    got = kfk_read(bootstrap, topic, "--isolation", "read_committed")
    check(strip(got), only_committed, "kfk read_committed")
    # -X isolation.level is the same switch.
    got = kfk_read(bootstrap, topic, "-X", "isolation.level=read_committed")
    check(strip(got), only_committed, "kfk -X isolation.level=read_committed")
    got = kfk_read(bootstrap, topic)
    check(strip(got), everything, "kfk read_uncommitted")
    got = kfk_read(bootstrap, topic, "--isolation", "read_uncommitted")
    check(strip(got), everything, "kfk --isolation read_uncommitted")

    # The reference consumer agrees.
    java = java_peer(
        "consume", "--bootstrap", bootstrap, "--topic", topic,
        "--count", str(len(only_committed)), "--isolation", "read_committed",
    )
    java_got = [json.loads(line) for line in java.stdout.decode().splitlines() if line.strip()]
    check(strip(java_got), only_committed, "Java read_committed")


def strip(records) -> list:
    """The fields compared (kfk also prints topic and timestamp)."""
    return [
        {k: r[k] for k in ("partition", "offset", "key", "value", "headers")}
        for r in records
    ]


# -------------------------------------------------------------- librdkafka


class Writer:
    """A confluent-kafka producer whose every send is flushed, so the log
    holds records in call order; remembers what it wrote."""

    def __init__(self, bootstrap, topic, name, codec, **conf):
        self.topic, self.name = topic, name
        self.p = Producer({
            "bootstrap.servers": bootstrap,
            "linger.ms": 0,
            "enable.idempotence": True,
            "compression.codec": codec,
            "log_level": 3,
            **conf,
        })
        self.transactional = "transactional.id" in conf
        if self.transactional:
            self.p.init_transactions(30)

    def send(self, partition, n, log):
        key = None if n % 5 == 2 else f"{self.name}-{n}"
        value = None if n % 7 == 3 else f"{self.name} {n}"
        headers = [("from", self.name.encode()), ("n", str(n).encode())]
        box = []
        self.p.produce(self.topic, partition=partition, key=key, value=value, headers=headers,
                       on_delivery=lambda err, msg: box.append((err, msg)))
        assert self.p.flush(30) == 0
        err, msg = box[0]
        assert err is None, err
        record = {
            "partition": partition,
            "offset": msg.offset(),
            "key": key,
            "value": value,
            "headers": [["from", self.name], ["n", str(n)]],
        }
        log.append((self.name, record))
        return record


@pytest.mark.cap(240)
@pytest.mark.parametrize("codec", CODECS)
def test_kfk_read_committed_of_librdkafka_transactions(kafka_cluster, codec):
    """Committed, aborted and (at first) open transactions of librdkafka
    interleaved with idempotent records on the same partitions."""
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique(f"rdk-rc-{codec}")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "2")
    prefix = unique("rdk-txn")
    idem = Writer(bootstrap, topic, "idem", codec)
    a = Writer(bootstrap, topic, "txnA", codec, **{"transactional.id": f"{prefix}-a"})
    b = Writer(bootstrap, topic, "txnB", codec, **{"transactional.id": f"{prefix}-b"})
    c = Writer(bootstrap, topic, "txnC", codec, **{"transactional.id": f"{prefix}-c"})
    log = []
    committed, aborted = [], []
    n = 0
    for _ in range(2):
        committed.append(idem.send(n % 2, n, log))
        n += 1
    a.p.begin_transaction()
    b.p.begin_transaction()
    for _ in range(6):
        committed.append(a.send(n % 2, n, log))
        aborted.append(b.send(n % 2, n + 1, log))
        committed.append(idem.send(n % 2, n + 2, log))
        n += 3
    a.p.commit_transaction(30)
    b.p.abort_transaction(30)
    committed.append(idem.send(0, n, log))
    n += 1
    # An aborted transaction on one partition only, then a committed one
    # from the producer that aborted before.
    b.p.begin_transaction()
    aborted.append(b.send(1, n, log))
    aborted.append(b.send(1, n + 1, log))
    b.p.abort_transaction(30)
    b.p.begin_transaction()
    committed.append(b.send(1, n + 2, log))
    b.p.commit_transaction(30)
    n += 3

    # Leave a transaction open on partition 0, with idempotent records
    # after it: read_committed stops at the open transaction's first
    # record (the last stable offset) on that partition, and -e still ends.
    c.p.begin_transaction()
    open_txn = [c.send(0, n, log), c.send(0, n + 1, log)]
    after_open = [idem.send(0, n + 2, log), idem.send(1, n + 3, log)]
    n += 4
    lso = open_txn[0]["offset"]
    visible = [r for r in committed if r["partition"] == 1 or r["offset"] < lso] + [after_open[1]]

    got = kfk_read(bootstrap, topic, "--isolation", "read_committed")
    check(strip(got), visible, "kfk read_committed with a transaction open")
    everything = [r for _, r in log]
    got = kfk_read(bootstrap, topic)
    check(strip(got), everything, "kfk read_uncommitted with a transaction open")

    c.p.commit_transaction(30)
    final = committed + open_txn + after_open
    got = kfk_read(bootstrap, topic, "--isolation", "read_committed")
    check(strip(got), final, "kfk read_committed")
    assert not {(r["partition"], r["offset"]) for r in aborted} & {(r["partition"], r["offset"]) for r in got}
    got = kfk_read(bootstrap, topic, "--isolation", "read_uncommitted")
    check(strip(got), everything, "kfk read_uncommitted")

    # librdkafka's own read_committed consumer agrees.
    peer = read_with_librdkafka(bootstrap, topic, 2, len(final))
    peer_records = [
        {
            "partition": m.partition(),
            "offset": m.offset(),
            "key": None if m.key() is None else m.key().decode(),
            "value": None if m.value() is None else m.value().decode(),
            "headers": [[k, v.decode()] for k, v in m.headers()],
        }
        for m in sorted(peer, key=lambda m: (m.partition(), m.offset()))
    ]
    check(peer_records, final, "librdkafka read_committed")
    for w in (idem, a, b, c):
        assert w.p.flush(10) == 0
