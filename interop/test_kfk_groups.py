"""Consumer groups on Apache Kafka with other clients. Mixed classic
groups: kfk members with librdkafka's and with the Java client's, each
side leading once; a mixed KIP-848 consumer-protocol group of kfk and
librdkafka. And `kfk group` on a live group of librdkafka consumers on the 3-node
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


class KfkMember:
    """`kfk consume -G` as a child process; its stderr lines (rebalances,
    the final commit) are collected as they come."""

    def __init__(self, bootstrap, topic, group, *extra, assignor="range"):
        import threading

        self.proc = subprocess.Popen(
            [str(kfk_bin()), "-b", bootstrap, "-X", "session.timeout.ms=10000",
             "-X", "heartbeat.interval.ms=1000", "-X", f"partition.assignment.strategy={assignor}",
             "consume", "-t", topic, "-G", group, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.err = []
        self.out = []
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.decode(errors="replace").rstrip("\n"))

    def owned(self):
        """The partitions of the last `assigned:` line minus those revoked
        or lost after it (kfk reports each change)."""
        owned = set()
        for line in list(self.err):
            kind, _, rest = line.partition(": ")
            parts = {int(tp.rsplit("-", 1)[1]) for tp in rest.split()} if rest else set()
            if kind == "assigned":
                owned |= parts
            elif kind in ("revoked", "lost"):
                owned -= parts
        return owned

    def finish(self, timeout=60):
        self.proc.wait(timeout=timeout)
        time.sleep(0.2)  # let the reader threads drain
        return self.proc.returncode


def poll_all(members, seen, seconds):
    """Polls every librdkafka member for `seconds`, recording values."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in members:
            m = c.poll(0.05)
            if m is not None and not m.error():
                seen.add(m.value().decode())


@pytest.mark.cap(240)
def test_kfk_and_librdkafka_members_share_one_classic_group(kafka_cluster):
    """A mixed group on Kafka, each side leading once: librdkafka's leader
    assigns our member its range share (it decodes our subscription, we
    decode its assignment), and ours assigns librdkafka's member its share
    (the reverse); what kfk committed is where the group resumes."""
    import signal

    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("mixed")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "6")
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for i in range(60):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 6)
    assert p.flush(30) == 0
    settings = {
        "bootstrap.servers": bootstrap,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "partition.assignment.strategy": "range",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "log_level": 3,
    }

    # 1. librdkafka members first (one of them leads); kfk joins, reads its
    # share to the end (-e), commits it and leaves.
    group = unique("mixed-a")
    members = [Consumer({**settings, "group.id": group}) for _ in range(2)]
    seen = set()
    try:
        for c in members:
            c.subscribe([topic])
        poll_all(members, seen, 3)
        ours = KfkMember(bootstrap, topic, group, "-e")
        shares = []
        deadline = time.monotonic() + 90
        while ours.proc.poll() is None and time.monotonic() < deadline:
            poll_all(members, seen, 0.3)
            mine = ours.owned()
            theirs = [{tp.partition for tp in c.assignment()} for c in members]
            if len(mine) == 2 and all(len(t) == 2 for t in theirs):
                shares.append((mine, theirs))
        assert ours.finish() == 0, "\n".join(ours.err)
        assert shares, "\n".join(ours.err)
        mine, theirs = shares[-1]
        assert set().union(mine, *theirs) == set(range(6)), shares[-1]
        assert len(mine) + sum(len(t) for t in theirs) == 6, "no partition owned twice"
        assert any(line.startswith("committed") for line in ours.err), ours.err
        # kfk printed exactly its partitions' records, each once.
        assert sorted(ours.out) == sorted(f"v{i}" for i in range(60) if i % 6 in mine)
        described = json.loads(kfk("-b", bootstrap, "group", "describe", group, "--json").stdout)
        committed = {o["partition"]: o["committed"] for o in described["offsets"]}
        assert all(committed.get(p) == 10 for p in mine), committed
    finally:
        for c in members:
            c.close()

    # 2. kfk first (it leads and assigns); a librdkafka member joins and
    # gets its range share from our assignor; kfk stops on SIGINT,
    # committing what it printed.
    group = unique("mixed-b")
    ours = KfkMember(bootstrap, topic, group)
    other = Consumer({**settings, "group.id": group})
    try:
        deadline = time.monotonic() + 60
        while len(ours.owned()) != 6:
            assert time.monotonic() < deadline, ours.err
            time.sleep(0.2)
        other.subscribe([topic])
        got = set()
        deadline = time.monotonic() + 90
        while True:
            poll_all([other], got, 0.3)
            theirs = {tp.partition for tp in other.assignment()}
            if len(theirs) == 3 and len(ours.owned()) == 3:
                break
            assert time.monotonic() < deadline, (theirs, ours.err)
        assert theirs.isdisjoint(ours.owned())
        # Range over partitions 0-5 and two members: three each, in order.
        assert sorted(theirs) in ([0, 1, 2], [3, 4, 5]), theirs
        # kfk had read everything and committed it (automatically, before
        # the eager revoke): the librdkafka member starts at those commits,
        # so it reads only what is written now.
        for i in range(60, 66):
            p.produce(topic, value=f"v{i}".encode(), partition=i % 6)
        assert p.flush(30) == 0
        want = {f"v{i}" for i in range(60, 66) if i % 6 in theirs}
        deadline = time.monotonic() + 30
        while not want <= got:
            assert time.monotonic() < deadline, (got, want)
            poll_all([other], got, 0.3)
        assert got == want, got
        ours.proc.send_signal(signal.SIGINT)
        assert ours.finish() == 0, "\n".join(ours.err)
        assert any(line.startswith("committed") for line in ours.err), ours.err
    finally:
        other.close()
        if ours.proc.poll() is None:
            ours.proc.kill()


@pytest.mark.cap(240)
def test_kfk_and_librdkafka_members_share_one_consumer_protocol_group(kafka_cluster):
    """A KIP-848 group (group.protocol=consumer) of a kfk member and a
    librdkafka member: the coordinator splits the topic between them; kfk
    commits (automatically, before it revokes, and at exit) and leaves
    cleanly, the librdkafka member takes everything over from those
    commits: every record is read once, none twice."""
    import signal

    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("kip848")
    group = unique("kip848-g")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "6")
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})

    def produce(start, end):
        for i in range(start, end):
            p.produce(topic, value=f"v{i}".encode(), partition=i % 6)
        assert p.flush(30) == 0

    produce(0, 60)
    ours = KfkMember(bootstrap, topic, group, "--group-protocol", "consumer",
                     "-X", "group.remote.assignor=uniform")
    other = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "log_level": 3,
    })
    got = []

    def poll_other(seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = other.poll(0.05)
            if m is not None and not m.error():
                got.append(m.value().decode())

    try:
        # kfk alone owns all six partitions and reads the first 60 (its
        # stdout is buffered: what it printed is checked at the end).
        deadline = time.monotonic() + 60
        while len(ours.owned()) != 6:
            assert time.monotonic() < deadline, (ours.owned(), ours.err)
            time.sleep(0.2)
        time.sleep(2)
        # librdkafka joins: the coordinator moves partitions to it; kfk
        # commits them before revoking, so it starts after what kfk read.
        other.subscribe([topic])
        deadline = time.monotonic() + 90
        while True:
            poll_other(0.3)
            theirs = {tp.partition for tp in other.assignment()}
            mine = ours.owned()
            if theirs and mine and len(theirs) + len(mine) == 6:
                break
            assert time.monotonic() < deadline, (theirs, ours.err)
        assert theirs.isdisjoint(mine), (theirs, mine)
        assert theirs | mine == set(range(6))
        produce(60, 120)
        poll_other(5)
        # kfk stops: it commits what it printed and leaves (epoch -1);
        # librdkafka takes every partition over from those commits.
        ours.proc.send_signal(signal.SIGINT)
        assert ours.finish() == 0, "\n".join(ours.err)
        assert any(line.startswith("committed") for line in ours.err), ours.err
        deadline = time.monotonic() + 60
        while len({tp.partition for tp in other.assignment()}) != 6:
            assert time.monotonic() < deadline, other.assignment()
            poll_other(0.3)
        produce(120, 180)
        deadline = time.monotonic() + 60
        while len(set(got) | set(ours.out)) < 180:
            assert time.monotonic() < deadline, (len(got), len(ours.out))
            poll_other(0.3)
        poll_other(1)
        everything = sorted(got + ours.out, key=lambda v: int(v[1:]))
        assert everything == [f"v{i}" for i in range(180)], "each record once"
        assert len(ours.out) >= 60 and len(got) >= 60, (len(ours.out), len(got))
    finally:
        other.close()
        if ours.proc.poll() is None:
            ours.proc.kill()


class JavaMember:
    """The Java client's consumer as a group member (KafkaPeer group); its
    rebalance events and records are collected as they come."""

    def __init__(self, java_peer, bootstrap, topic, group, assignor="range", protocol="classic"):
        import threading

        # The consumer protocol's assignor is the broker's choice here.
        chosen = ("--assignor", assignor) if protocol == "classic" else ()
        self.proc = java_peer.popen(
            "group", "--bootstrap", bootstrap, "--topic", topic, "--group", group, *chosen,
            "--protocol", protocol,
        )
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.events.append(json.loads(line))

    def owned(self):
        owned = set()
        for e in list(self.events):
            if e["event"] == "assigned":
                owned |= set(e["partitions"])
            elif e["event"] in ("revoked", "lost"):
                owned -= set(e["partitions"])
        return owned

    def values(self):
        return [e["value"] for e in list(self.events) if e["event"] == "record"]

    def finish(self, timeout=60):
        """Closes stdin: the member commits, leaves and exits."""
        self.proc.stdin.close()
        self.proc.wait(timeout=timeout)
        assert self.proc.returncode == 0, self.proc.stderr.read().decode(errors="replace")[-3000:]


@pytest.mark.cap(300)
@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
def test_kfk_and_java_members_share_one_classic_group(kafka_cluster, java_peer, assignor):
    """The Java client's consumer and ours in one group, with range
    (eager) and with cooperative-sticky (incremental), each side leading
    once: the shares are disjoint and complete, and what kfk committed is
    where the Java member resumes."""
    import signal

    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("mixed-java")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "6")
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for i in range(60):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 6)
    assert p.flush(30) == 0

    # 1. Java leads; kfk joins, reads its share to the end, commits, leaves.
    group = unique("mixed-java-a")
    java = JavaMember(java_peer, bootstrap, topic, group, assignor)
    # Range splits six partitions between two members as 0-2 and 3-5.
    range_shapes = ([0, 1, 2], [3, 4, 5]) if assignor == "range" else None
    try:
        deadline = time.monotonic() + 60
        # Java alone reads everything first (committing nothing).
        while len(java.owned()) != 6 or len(java.values()) < 60:
            assert time.monotonic() < deadline, java.events
            time.sleep(0.2)
        ours = KfkMember(bootstrap, topic, group, "-e", assignor=assignor)
        shares = []
        while ours.proc.poll() is None:
            assert time.monotonic() < deadline + 60, (ours.err, java.events)
            mine, theirs = ours.owned(), java.owned()
            if len(mine) == 3 and len(theirs) == 3:
                shares.append((mine, theirs))
            time.sleep(0.1)
        assert ours.finish() == 0, "\n".join(ours.err)
        assert shares, (ours.err, java.events)
        mine, theirs = shares[-1]
        assert mine.isdisjoint(theirs) and mine | theirs == set(range(6)), shares[-1]
        assert range_shapes is None or sorted(mine) in range_shapes, mine
        assert sorted(ours.out) == sorted(f"v{i}" for i in range(60) if i % 6 in mine)
        # kfk left: Java owns everything again and, starting at kfk's
        # commits, reads none of kfk's records a second time (it read each
        # once before kfk joined).
        while len(java.owned()) != 6:
            assert time.monotonic() < deadline + 90, java.events
            time.sleep(0.2)
        time.sleep(1)
        of_kfk = [v for v in java.values() if int(v[1:]) % 6 in mine]
        assert sorted(of_kfk) == sorted(f"v{i}" for i in range(60) if i % 6 in mine), of_kfk
    finally:
        java.finish()

    # 2. kfk leads; the Java member joins and gets its range share from
    # our assignor.
    group = unique("mixed-java-b")
    ours = KfkMember(bootstrap, topic, group, assignor=assignor)
    java = None
    try:
        deadline = time.monotonic() + 60
        while len(ours.owned()) != 6:
            assert time.monotonic() < deadline, ours.err
            time.sleep(0.2)
        java = JavaMember(java_peer, bootstrap, topic, group, assignor)
        while not (len(java.owned()) == 3 and len(ours.owned()) == 3):
            assert time.monotonic() < deadline + 60, (ours.err, java.events)
            time.sleep(0.2)
        assert java.owned().isdisjoint(ours.owned())
        assert range_shapes is None or sorted(java.owned()) in range_shapes, java.events
        if assignor == "cooperative-sticky":
            # Incremental: kfk gave up only what moved, never everything.
            revoked = [line for line in ours.err if line.startswith("revoked")]
            assert revoked and all(len(r.split()) - 1 == 3 for r in revoked), ours.err
        ours.proc.send_signal(signal.SIGINT)
        assert ours.finish() == 0, "\n".join(ours.err)
        assert any(line.startswith("committed") for line in ours.err), ours.err
    finally:
        if java is not None:
            java.finish()
        if ours.proc.poll() is None:
            ours.proc.kill()


@pytest.mark.cap(300)
def test_kfk_and_java_members_share_one_consumer_protocol_group(kafka_cluster, java_peer):
    """The Java client's consumer and ours in one KIP-848 group: the
    coordinator splits the topic; the Java member commits and leaves, ours
    takes its partitions over from those commits; every record is read
    once across both."""
    import signal

    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("java848")
    group = unique("java848-g")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "6")
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})

    def produce(start, end):
        for i in range(start, end):
            p.produce(topic, value=f"v{i}".encode(), partition=i % 6)
        assert p.flush(30) == 0

    produce(0, 60)
    ours = KfkMember(bootstrap, topic, group, "--group-protocol", "consumer")
    java = None
    try:
        deadline = time.monotonic() + 60
        while len(ours.owned()) != 6:
            assert time.monotonic() < deadline, (ours.owned(), ours.err)
            time.sleep(0.2)
        time.sleep(2)
        java = JavaMember(java_peer, bootstrap, topic, group, protocol="consumer")
        deadline = time.monotonic() + 90
        while True:
            theirs, mine = java.owned(), ours.owned()
            if theirs and mine and len(theirs) + len(mine) == 6:
                break
            assert time.monotonic() < deadline, (theirs, mine, ours.err)
            time.sleep(0.2)
        assert theirs.isdisjoint(mine), (theirs, mine)
        produce(60, 120)
        deadline = time.monotonic() + 60
        want = {f"v{i}" for i in range(60, 120) if i % 6 in theirs}
        while not want <= set(java.values()):
            assert time.monotonic() < deadline, (len(java.values()), want)
            time.sleep(0.2)
        # The Java member commits and leaves; ours takes everything over.
        java.finish()
        deadline = time.monotonic() + 60
        while len(ours.owned()) != 6:
            assert time.monotonic() < deadline, ours.err
            time.sleep(0.2)
        produce(120, 180)
        time.sleep(8)  # kfk's stdout is buffered: checked once it exits
        ours.proc.send_signal(signal.SIGINT)
        assert ours.finish() == 0, "\n".join(ours.err)
        everything = sorted(ours.out + java.values(), key=lambda v: int(v[1:]))
        assert everything == [f"v{i}" for i in range(180)], "each record once"
    finally:
        if java is not None and java.proc.poll() is None:
            java.proc.kill()
        if ours.proc.poll() is None:
            ours.proc.kill()
