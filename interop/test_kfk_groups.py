"""`kfk group` on a live group of librdkafka consumers on the 3-node
Apache Kafka cluster, with the classic protocol (members' partitions
decoded from the group's own assignment bytes) and with KIP-848's
consumer protocol (the coordinator's own assignment): the members, their
partitions, the committed offsets and lag agree with Kafka's own group
tool."""

import json
import re
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from conftest import jdk_tool, kafka_home, kfk, kfk_bin, unique

GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def group_tool(bootstrap, *args) -> str:
    out = subprocess.run(
        [jdk_tool("java"), "-cp", f"{kafka_home()}/libs/*", GROUP_TOOL, "--bootstrap-server", bootstrap, *args],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


@pytest.mark.cap(240)
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_kfk_group_describe_agrees_with_kafka_on_a_live_librdkafka_group(kafka_cluster, protocol):
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique("grp"), unique("members")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "4")
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for i in range(40):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 4)
    assert p.flush(30) == 0

    settings = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "log_level": 3,
    }
    if protocol == "classic":
        settings["partition.assignment.strategy"] = "range"
    else:
        settings["group.protocol"] = "consumer"
        settings["group.remote.assignor"] = "uniform"
    members = [Consumer({**settings, "client.id": f"member-{n}"}) for n in range(2)]
    try:
        for c in members:
            c.subscribe([topic])
        # Poll both until each owns two partitions and has read from them,
        # and together they have read 30 records; then commit what each read.
        got = [0, 0]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for n, c in enumerate(members):
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got[n] += 1
            assigned = all(len(c.assignment()) == 2 for c in members)
            if assigned and sum(got) >= 30 and all(g > 0 for g in got):
                break
        assert all(len(c.assignment()) == 2 for c in members), "both members got partitions"
        for c in members:
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                # A member whose reads all came before a rebalance moved
                # those partitions has nothing of its own to commit.
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    raise

        ours = json.loads(kfk("-b", bootstrap, "group", "describe", group, "--json").stdout)
        # Polling keeps the members alive while Kafka's tool runs.
        for c in members:
            c.poll(0.1)
        theirs_members = group_tool(bootstrap, "--describe", "--group", group, "--members", "--verbose")
        theirs_offsets = group_tool(bootstrap, "--describe", "--group", group)

        assert ours["group"] == group
        assert ours["state"] == "Stable", ours
        assert ours["protocol"] == protocol
        assert ours["assignor"] == ("range" if protocol == "classic" else "uniform")
        assert sorted(m["client_id"] for m in ours["members"]) == ["member-0", "member-1"]
        owned = [(a["topic"], a["partition"]) for m in ours["members"] for a in m["assignment"]]
        assert sorted(owned) == [(topic, p) for p in range(4)], "every partition once"

        # Kafka's view of each member: CONSUMER-ID ... CURRENT-ASSIGNMENT
        # as topic:0,1 (older tools wrote topic(0,1)).
        kafka_view = {}
        for line in theirs_members.splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[0] == group:
                found = re.search(re.escape(topic) + r"[:(]([\d,]+)", line)
                parts = sorted(int(x) for x in found.group(1).split(",")) if found else []
                kafka_view[fields[1]] = parts
        our_view = {m["member_id"]: sorted(a["partition"] for a in m["assignment"]) for m in ours["members"]}
        assert our_view == kafka_view, theirs_members

        # Kafka's offsets: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
        kafka_offsets = {}
        for line in theirs_offsets.splitlines():
            fields = line.split()
            if len(fields) >= 6 and fields[1] == topic:
                kafka_offsets[int(fields[2])] = tuple(int(x) if x != "-" else None for x in fields[3:6])
        our_offsets = {o["partition"]: (o["committed"], o["end"], o["lag"]) for o in ours["offsets"]}
        assert our_offsets == kafka_offsets, theirs_offsets
        assert all(end == 10 for _, end, _ in our_offsets.values())

        listed = json.loads(kfk("-b", bootstrap, "group", "list", "--json").stdout)
        mine = [g for g in listed if g["group"] == group]
        assert mine and mine[0]["state"] == "Stable" and mine[0]["protocol_type"] == "consumer", mine
        assert mine[0]["type"] == protocol

        # A group with members cannot be deleted; the one line says why.
        refused = subprocess.run(
            [str(kfk_bin()), "-b", bootstrap, "group", "delete", group], capture_output=True, timeout=60
        )
        assert refused.returncode != 0
        assert "NON_EMPTY_GROUP" in refused.stderr.decode(), refused.stderr.decode()
    finally:
        for c in members:
            c.close()
    # Once they left, it can.
    kfk("-b", bootstrap, "group", "delete", group)
