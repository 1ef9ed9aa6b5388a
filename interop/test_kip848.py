"""librdkafka consumers on the KIP-848 consumer group protocol
(`group.protocol=consumer`) against kafka-mock.

The mock is started with a short heartbeat interval and session timeout
so that joins, hand-overs and leaves take a fraction of a second.
"""

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique, wait_until

REQUEST_TIMEOUT = 10.0
PARTITIONS = 6
MOCK_FLAGS = ("--consumer-heartbeat-ms", "300", "--consumer-session-ms", "6000")


def base_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10000,
        "reconnect.backoff.max.ms": 1000,
        "log_level": 3,
    }
    conf.update(extra)
    return conf


def make_consumer(bootstrap, group, **extra):
    # The session timeout and heartbeat interval come from the broker
    # under this protocol; librdkafka refuses to set them.
    return Consumer(
        base_conf(
            bootstrap,
            **{
                "group.id": group,
                "group.protocol": "consumer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
            },
            **extra,
        )
    )


def create_topic(bootstrap, name, partitions):
    admin = AdminClient(base_conf(bootstrap))
    admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=REQUEST_TIMEOUT)[name].result(
        timeout=REQUEST_TIMEOUT + 5
    )
    wait_until(
        lambda: len(admin.list_topics(name, timeout=REQUEST_TIMEOUT).topics[name].partitions) == partitions,
        10,
        f"topic {name} visible in metadata",
    )


def produce(bootstrap, topic, tag, per_partition):
    producer = Producer(base_conf(bootstrap, **{"linger.ms": 5, "message.timeout.ms": 20000}))
    values = set()
    for p in range(PARTITIONS):
        for i in range(per_partition):
            v = f"{tag}-{p}-{i}".encode()
            producer.produce(topic, value=v, partition=p)
            values.add(v)
    assert producer.flush(20) == 0, "records left unsent"
    return values


@pytest.mark.cap(120)
def test_consumer_protocol_group_shares_and_hands_over(start_mock):
    bootstrap = start_mock(*MOCK_FLAGS)
    topic = unique("kip848")
    group = unique("kip848-group")
    create_topic(bootstrap, topic, PARTITIONS)

    consumers = {name: make_consumer(bootstrap, group) for name in ("a", "b", "c")}
    got = {name: [] for name in consumers}

    def poll_all():
        for name, c in list(consumers.items()):
            m = c.poll(0.05)
            if m is not None and not m.error():
                got[name].append(m)

    def parts(c):
        return {tp.partition for tp in c.assignment()}

    def all_values():
        return [m.value() for msgs in got.values() for m in msgs]

    try:
        for c in consumers.values():
            c.subscribe([topic])
        wait_until(
            lambda: all(parts(c) for c in consumers.values())
            and set().union(*(parts(c) for c in consumers.values())) == set(range(PARTITIONS)),
            30,
            "three members sharing all partitions",
            step=poll_all,
        )
        sizes = sorted(len(parts(c)) for c in consumers.values())
        assert sizes == [2, 2, 2], f"uneven assignment {sizes}"
        for x in consumers.values():
            for y in consumers.values():
                if x is not y:
                    assert not parts(x) & parts(y), "a partition assigned to two members"

        # Produced once the group is stable, so each record has one reader.
        first = produce(bootstrap, topic, "first", 10)
        wait_until(lambda: len(all_values()) >= len(first), 30, "every first record", step=poll_all)
        for _ in range(10):
            poll_all()
        values = all_values()
        assert len(values) == len(set(values)), "a record consumed twice"
        assert set(values) == first
        owners = {p: name for name, c in consumers.items() for p in parts(c)}
        for name, msgs in got.items():
            assert all(owners[m.partition()] == name for m in msgs), "record of a foreign partition"

        for c in consumers.values():
            c.commit(asynchronous=False)
            committed = c.committed(c.assignment(), timeout=REQUEST_TIMEOUT)
            assert {(tp.partition, tp.offset) for tp in committed} == {(p, 10) for p in parts(c)}

        # "a" leaves: its partitions go to the two others, which resume at
        # the committed offsets, so nothing is read twice.
        consumers.pop("a").close()
        wait_until(
            lambda: set().union(*(parts(c) for c in consumers.values())) == set(range(PARTITIONS))
            and not parts(consumers["b"]) & parts(consumers["c"]),
            30,
            "b and c own every partition after a left",
            step=poll_all,
        )
        assert sorted(len(parts(c)) for c in consumers.values()) == [3, 3]
        for msgs in got.values():
            msgs.clear()
        second = produce(bootstrap, topic, "second", 5)
        wait_until(lambda: len(all_values()) >= len(second), 30, "every second record", step=poll_all)
        for _ in range(10):
            poll_all()
        values = all_values()
        assert sorted(values) == sorted(second), "second records not read exactly once"
        for c in consumers.values():
            c.commit(asynchronous=False)
        committed = consumers["b"].committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=REQUEST_TIMEOUT
        )
        assert [tp.offset for tp in committed] == [15] * PARTITIONS
    finally:
        for c in consumers.values():
            c.close()


@pytest.mark.cap(90)
def test_consumer_protocol_range_assignor_and_regex(start_mock):
    bootstrap = start_mock(*MOCK_FLAGS)
    prefix = unique("kip848re")
    group = unique("kip848-regex")
    create_topic(bootstrap, f"{prefix}-one", 2)
    consumers = {
        name: make_consumer(bootstrap, group, **{"group.remote.assignor": "range"}) for name in ("a", "b")
    }

    def poll_all():
        for c in consumers.values():
            c.poll(0.05)

    def owned():
        return {(tp.topic, tp.partition) for c in consumers.values() for tp in c.assignment()}

    try:
        for c in consumers.values():
            # librdkafka sends a subscription starting with ^ as a regex.
            c.subscribe([f"^{prefix}-.*"])
        wait_until(
            lambda: owned() == {(f"{prefix}-one", 0), (f"{prefix}-one", 1)}
            and all(c.assignment() for c in consumers.values()),
            30,
            "both members own one partition of the first topic",
            step=poll_all,
        )
        # A new topic matching the regex joins the assignment.
        create_topic(bootstrap, f"{prefix}-two", 2)
        wait_until(
            lambda: {t for t, _ in owned()} == {f"{prefix}-one", f"{prefix}-two"} and len(owned()) == 4,
            30,
            "the new matching topic assigned",
            step=poll_all,
        )
    finally:
        for c in consumers.values():
            c.close()
