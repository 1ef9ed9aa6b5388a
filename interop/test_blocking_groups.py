"""Consumer groups on the 3-node Apache Kafka cluster with the blocking
client's group consumer (the `group_member` example of kafka-blocking)
beside librdkafka's and the Java client's members, each in a process of
its own so a test can SIGKILL it; with the classic protocol and with the
KIP-848 consumer protocol (`group.protocol=consumer`, all three kinds in
one group, the broker assigning):

- one group through joins, a SIGKILLed member, the group coordinator's
  node SIGKILLed and a clean leave, with range and cooperative-sticky
  (classic) and the broker's uniform and range assignors (consumer):
  every record is read, no partition is read by two members at once, and
  the committed offsets end at the log's end;
- static membership (KIP-345): our static member restarts within the
  session timeout without a rebalance, and a second member with its
  instance id fences the first; under KIP-848 the member leaves with
  epoch -2 and comes back to the same partitions while nobody else sees a
  revoke, and a second member with its instance id is refused
  (UNRELEASED_INSTANCE_ID) while the first keeps its partitions;
- a SIGKILLed member of each kind, under both protocols: the others take
  its partitions once its session expires, and no record is lost.

Every member prints one JSON line per event with its own wall-clock
timestamp (`ts`, milliseconds), so the lines of all members can be put
in one order.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from conftest import REPO_ROOT, _die_with_parent, kfk, unique

PARTITIONS = 6
# Short enough for quick take-overs, at Kafka's minimum allowed
# (group.min.session.timeout.ms is 6 s) plus margin. Under the consumer
# protocol the session timeout is the broker's, which kafka-testkit sets
# to the same (group.consumer.session.timeout.ms; Kafka's default is 45 s).
SESSION_MS = 10000


def member_bin() -> Path:
    path = Path(os.environ.get("GROUP_MEMBER_BIN", "target/debug/examples/group_member"))
    return path if path.is_absolute() else REPO_ROOT / path


def now_ms() -> int:
    return int(time.time() * 1000)


class Member:
    """A group member process of one kind ("ours", "librdkafka" or
    "java") speaking `protocol` ("classic" or "consumer"); its JSON lines
    are collected as they come. Under the consumer protocol `assignor`
    names the broker's assignor (uniform or range) and the session
    timeout is the broker's."""

    def __init__(self, kind, bootstrap, topic, group, assignor, java_peer=None, instance_id=None,
                 protocol="classic"):
        self.kind = kind
        if kind == "ours":
            binary = member_bin()
            if not binary.exists():
                pytest.fail(f"no group_member at {binary}: cargo build -p kafka-blocking --example group_member")
            args = [str(binary), "--bootstrap", bootstrap, "--topic", topic, "--group", group,
                    "--assignor", assignor, "--group-protocol", protocol]
            if protocol == "classic":
                args += ["--session-timeout-ms", str(SESSION_MS)]
            if instance_id is not None:
                args += ["--instance-id", instance_id]
            self.proc = subprocess.Popen(
                args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent,
            )
        elif kind == "librdkafka":
            assert instance_id is None
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "interop/rdkafka_member.py"), bootstrap, topic, group,
                 assignor, str(SESSION_MS), protocol],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent,
            )
        else:
            assert kind == "java" and instance_id is None
            # The peer's session timeout is SESSION_MS too.
            self.proc = java_peer.popen(
                "group", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--assignor", assignor,
                "--protocol", protocol,
            )
        self.events = []
        self.err = []
        self.ended_at = None
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def __repr__(self):
        return f"{self.kind}[{self.proc.pid}]"

    def _read_out(self):
        for line in self.proc.stdout:
            if line.strip():
                self.events.append(json.loads(line))

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.decode(errors="replace").rstrip())

    def owned(self):
        owned = set()
        for e in list(self.events):
            if e["event"] == "assigned":
                owned |= set(e["partitions"])
            elif e["event"] in ("revoked", "lost"):
                owned -= set(e["partitions"])
        return owned

    def records(self):
        return [e for e in list(self.events) if e["event"] == "record"]

    def of(self, *kinds):
        return [e for e in list(self.events) if e["event"] in kinds]

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.ended_at = now_ms()

    def finish(self, timeout=60):
        """Closes stdin: the member commits what it read and leaves."""
        self.proc.stdin.close()
        self.proc.wait(timeout=timeout)
        time.sleep(0.3)  # the reader threads drain
        self.ended_at = now_ms()
        assert self.proc.returncode == 0, (self, self.proc.returncode, self.err[-30:])

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)


class Writer:
    """Writes records v0, v1, ... round-robin over the partitions, about
    `rate` a second, from a thread, until stopped; `written` holds the
    values acknowledged."""

    def __init__(self, bootstrap, topic, rate=40):
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log_level": 3,
                                  "linger.ms": 5})
        self.topic = topic
        self.rate = rate
        self.written = set()
        self.failed = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _delivered(self, err, msg):
        if err is None:
            self.written.add(msg.value().decode())
        else:
            self.failed.append(str(err))

    def _run(self):
        while not self._stop.is_set():
            i = self.sent
            self.producer.produce(self.topic, value=f"v{i}".encode(), partition=i % PARTITIONS,
                                  on_delivery=self._delivered)
            self.sent += 1
            self.producer.poll(0)
            time.sleep(1 / self.rate)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        assert self.producer.flush(60) == 0, "every record delivered"
        assert not self.failed, self.failed[:5]
        assert len(self.written) == self.sent


def wait_for(what, predicate, timeout, members=()):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = {repr(m): (m.owned(), m.of("assigned", "revoked", "lost", "fatal")[-6:], m.err[-5:])
                      for m in members}
            pytest.fail(f"timed out after {timeout}s waiting for {what}: {detail}")
        time.sleep(0.2)


def shares_complete(members):
    """Every partition owned by exactly one of `members`, each owning
    some."""
    owned = [m.owned() for m in members]
    return (all(owned) and sum(len(o) for o in owned) == PARTITIONS
            and set().union(*owned) == set(range(PARTITIONS)))


def wait_settled(members, timeout, quiet=3.0):
    """Waits until `members` share every partition and none of them has
    seen an assignment change for `quiet` seconds (a KIP-848 group moves
    partitions one revoke at a time: a complete share may not be the
    last)."""
    def settled():
        changes = [e["ts"] for m in members for e in m.of("assigned", "revoked", "lost")]
        return shares_complete(members) and now_ms() - max(changes, default=0) > quiet * 1000
    wait_for("the group settled", settled, timeout, members)


def create_topic(bootstrap, topic):
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", str(PARTITIONS),
        "--replication-factor", "3")


def describe(bootstrap, group):
    return json.loads(kfk("-b", bootstrap, "group", "describe", group, "--json").stdout)


def coordinator(bootstrap, group) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return desc.coordinator.id


def report(members):
    """Prints what each member read and how its assignment changed."""
    for m in members:
        changes = [(e["event"], e["partitions"]) for e in m.of("assigned", "revoked", "lost")]
        print(f"{m}: {len(m.records())} records read; {changes}")


def wind_up(members, writer):
    """The end of a test, passed or not: the report, then the writer and
    every member stopped."""
    report(members)
    writer._stop.set()
    for m in members:
        m.stop()


def check_no_partition_read_by_two_at_once(members, least=PARTITIONS):
    """Per partition, the time spans in which members read it never
    overlap: a span is from a member's first to its last record of the
    partition within one stretch of ownership (assigned to revoked, lost
    or the end of the process). A record read twice (after a take-over
    from a killed member) is fine; two readers at the same time are not.
    At least `least` hand-overs (a partition read by one member, then by
    another) must be seen, so the check was not empty.
    """
    spans = {p: [] for p in range(PARTITIONS)}
    for m in members:
        events = list(m.events)
        # Split each partition's records at the member's own ownership
        # changes of that partition.
        current = {}
        for e in events:
            if e["event"] == "record":
                p = e["partition"]
                span = current.setdefault(p, [e["ts"], e["ts"]])
                span[1] = e["ts"]
            elif e["event"] in ("assigned", "revoked", "lost"):
                for p in e["partitions"]:
                    if p in current:
                        spans[p].append((current.pop(p), m))
        for p, span in current.items():
            spans[p].append((span, m))
    handovers = 0
    for p, list_ in spans.items():
        list_.sort(key=lambda s: s[0][0])
        for (a, ma), (b, mb) in zip(list_, list_[1:]):
            if ma is not mb:
                handovers += 1
                assert a[1] < b[0], (
                    f"partition {p} read by {ma} until {a[1]} and by {mb} from {b[0]}"
                )
    # The tests move partitions between members: the check saw some.
    assert handovers >= least, handovers


def check_all_read(writer, members):
    read = {e["value"] for m in members for e in m.records()}
    missing = writer.written - read
    assert not missing, f"{len(missing)} records never read, e.g. {sorted(missing)[:5]}"


def check_committed_at_end(bootstrap, group):
    offsets = {o["partition"]: (o["committed"], o["end"]) for o in describe(bootstrap, group)["offsets"]}
    assert sorted(offsets) == list(range(PARTITIONS)), offsets
    assert all(c == e for c, e in offsets.values()), offsets


def bounce_static(s, others, stop, restart, everyone, bootstrap, group, instance):
    """Stops the settled static member `s` with `stop`, starts its
    successor with `restart` (same instance id) within the session
    timeout, and checks it gets the same partitions in the same
    generation (member epoch under KIP-848) while `others` see no
    assignment change for longer than a session. Returns the successor,
    that generation, its partitions, and the others' change counts."""
    generation = s.of("generation")[-1]["generation"]
    mine = s.owned()
    changes = {m: len(m.of("assigned", "revoked", "lost")) for m in others}
    described = describe(bootstrap, group)
    assert described["state"] == "Stable", described
    assert [m["instance_id"] for m in described["members"]].count(instance) == 1, described
    stop()
    s2 = restart()
    everyone.append(s2)
    wait_for("the restarted S owns its partitions", lambda: s2.owned() == mine and s2.of("generation"),
             30, everyone)
    back_in = (now_ms() - s.ended_at) / 1000
    assert back_in < SESSION_MS / 1000, back_in
    assert s2.of("generation")[0]["generation"] == generation, (generation, s2.of("generation"))
    # Longer than the session timeout: a rebalance the restart caused (or
    # the old member's expiry) would have come by now.
    time.sleep(SESSION_MS / 1000 + 2)
    for m, n in changes.items():
        assert len(m.of("assigned", "revoked", "lost")) == n, (m, m.of("assigned", "revoked", "lost"))
    assert [e["generation"] for e in s2.of("generation")] == [generation], s2.of("generation")
    assert s2.owned() == mine and not s2.of("revoked", "lost"), s2.of("assigned", "revoked", "lost")
    return s2, generation, mine, changes

def wait_committed_at_end(bootstrap, group, timeout, members):
    """Waits until the group's committed offsets reach the log's end."""
    def at_end():
        offsets = describe(bootstrap, group)["offsets"]
        return len(offsets) == PARTITIONS and all(o["committed"] == o["end"] for o in offsets)
    wait_for("committed offsets at the log's end", at_end, timeout, members)


@pytest.mark.cap(420)
@pytest.mark.parametrize(
    "protocol,assignor",
    [("classic", "range"), ("classic", "cooperative-sticky"), ("consumer", "uniform"), ("consumer", "range")],
)
def test_blocking_member_through_joins_kills_and_a_coordinator_failover(
    kafka_cluster, java_peer, protocol, assignor
):
    """Our blocking member A starts the group (and leads it, classic);
    the Java client's, librdkafka's and a second blocking member B join;
    B is SIGKILLed (the others take its partitions after the session
    timeout); the coordinator's node is SIGKILLed and restarted; the Java
    member leaves cleanly, then librdkafka's; A ends alone, reads to the
    end and commits. Records are written throughout. Every member speaks
    `protocol`; under the consumer protocol the broker's `assignor`
    assigns and revokes before it assigns elsewhere."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique("bgrp"), unique("bgrp-g")
    create_topic(bootstrap, topic)
    writer = Writer(bootstrap, topic)
    started = time.monotonic()

    def join(kind):
        return Member(kind, bootstrap, topic, group, assignor, java_peer, protocol=protocol)

    a = join("ours")
    everyone = [a]
    try:
        wait_for("A owns everything", lambda: len(a.owned()) == PARTITIONS, 60, everyone)
        j = join("java")
        everyone.append(j)
        wait_for("A and J share", lambda: shares_complete([a, j]), 90, everyone)
        r = join("librdkafka")
        b = join("ours")
        everyone += [r, b]
        wait_for("four shares", lambda: shares_complete([a, j, r, b]), 90, everyone)
        wait_for("B reads", lambda: b.records(), 30, everyone)

        b.kill()
        wait_for("B's partitions taken over", lambda: shares_complete([a, j, r]), 60, everyone)
        print(f"take-over after SIGKILL: {(now_ms() - b.ended_at) / 1000:.1f} s")

        node = coordinator(bootstrap, group)
        kafka_cluster["control"](f"kill {node}")
        killed_at = now_ms()
        try:
            # Every member keeps reading with the coordinator gone.
            wait_for("reads after the coordinator died",
                     lambda: all(any(e["ts"] > killed_at + 3000 for e in m.records()) for m in (a, j, r)),
                     60, everyone)
        finally:
            kafka_cluster["control"](f"restart {node}")
        assert coordinator(bootstrap, group) >= 0
        assert all(m.alive() for m in (a, j, r)), [(m, m.err[-5:]) for m in (a, j, r)]
        # A peer may have been fenced while the coordinator moved (both
        # peers were, once, in CI); leaving mid-rejoin makes the Java
        # client's final commit throw, so the group settles first.
        wait_settled([a, j, r], 90)

        j.finish()
        wait_for("J's partitions handed over", lambda: shares_complete([a, r]), 60, everyone)
        r.finish()
        wait_for("A alone", lambda: len(a.owned()) == PARTITIONS, 60, everyone)
        writer.stop()
        # A commits automatically every second.
        wait_committed_at_end(bootstrap, group, 60, everyone)
        a.finish()
        committed = a.of("committed")
        assert committed, a.events[-5:]

        check_all_read(writer, everyone)
        check_no_partition_read_by_two_at_once(everyone)
        check_committed_at_end(bootstrap, group)
        if assignor in ("cooperative-sticky", "uniform"):
            # Incremental and sticky: no member ever gave up everything it
            # owned because another joined (A kept some partitions
            # throughout).
            revoked_all = [e for e in a.of("revoked") if len(e["partitions"]) == PARTITIONS]
            assert not revoked_all, a.of("assigned", "revoked")
        print(f"{len(writer.written)} records, {time.monotonic() - started:.1f} s")
    finally:
        wind_up(everyone, writer)


@pytest.mark.cap(300)
def test_static_blocking_member_restarts_without_a_rebalance_and_a_duplicate_is_fenced(kafka_cluster, java_peer):
    """Our static member S (group.instance.id) leads a group with the Java
    client's and librdkafka's members (range: any rebalance would revoke
    everything at each member). S is SIGKILLed and restarted within the
    session timeout: it gets its partitions back in the same generation
    and nobody else sees a revoke or an assignment. Then a second process
    with the same instance id joins: exactly one of the two survives and
    the other stops with the fenced error."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique("static"), unique("static-g")
    create_topic(bootstrap, topic)
    writer = Writer(bootstrap, topic)
    instance = unique("inst")
    s = Member("ours", bootstrap, topic, group, "range", instance_id=instance)
    everyone = [s]
    try:
        wait_for("S owns everything", lambda: len(s.owned()) == PARTITIONS, 60, everyone)
        j = Member("java", bootstrap, topic, group, "range", java_peer)
        r = Member("librdkafka", bootstrap, topic, group, "range")
        everyone += [j, r]
        wait_for("three shares", lambda: shares_complete([s, j, r]), 90, everyone)
        wait_for("S in a generation", lambda: s.of("generation") and s.records(), 30, everyone)
        # Settled: the last generation S reported is the group's.
        time.sleep(2)
        s2, generation, mine, others = bounce_static(s, (j, r), lambda: s.kill(),
                                                lambda: Member("ours", bootstrap, topic, group, "range",
                                                               instance_id=instance),
                                                everyone, bootstrap, group, instance)
        wait_for("the restarted S reads", lambda: s2.records(), 30, everyone)

        # A duplicate: same instance id while S2 runs.
        duplicate_at = now_ms()
        s3 = Member("ours", bootstrap, topic, group, "range", instance_id=instance)
        everyone.append(s3)
        wait_for("one of the two fenced", lambda: not s2.alive() or not s3.alive(), 60, everyone)
        time.sleep(SESSION_MS / 1000)
        alive = [m for m in (s2, s3) if m.alive()]
        dead = [m for m in (s2, s3) if not m.alive()]
        assert len(alive) == 1 and len(dead) == 1, (alive, dead)
        dead = dead[0]
        assert dead.proc.returncode == 3, (dead.proc.returncode, dead.err[-10:])
        fatal = dead.of("fatal")
        assert fatal and "instance id" in fatal[0]["error"], (fatal, dead.events[-5:])
        # The survivor holds the static member's place and its partitions.
        wait_for("the survivor owns the partitions", lambda: alive[0].owned() == mine, 30, everyone)
        described = describe(bootstrap, group)
        assert [m["instance_id"] for m in described["members"]].count(instance) == 1, described
        assert len(described["members"]) == 3, described

        writer.stop()
        for m in (j, r):
            m.finish()
        wait_for("the survivor owns everything", lambda: len(alive[0].owned()) == PARTITIONS, 60, everyone)
        wait_committed_at_end(bootstrap, group, 60, everyone)
        alive[0].finish()
        check_all_read(writer, everyone)
        # The fenced member learns it was replaced at its next heartbeat
        # (a tenth of the session timeout) and reads on until then, as any
        # client does: it is left out of the overlap check, but must have
        # stopped soon after the other took its place.
        check_no_partition_read_by_two_at_once([m for m in everyone if m is not dead])
        took_over = min((e["ts"] for e in alive[0].of("assigned") if e["ts"] >= duplicate_at), default=duplicate_at)
        last_read = max((e["ts"] for e in dead.records()), default=0)
        assert last_read < took_over + SESSION_MS // 10 + 2000, (last_read, took_over)
    finally:
        wind_up(everyone, writer)


@pytest.mark.cap(180)
def test_static_blocking_member_returns_under_kip848_and_a_duplicate_is_refused(kafka_cluster, java_peer):
    """The consumer protocol (KIP-848), the broker's uniform assignor: our
    static member S starts a group that the Java client's and librdkafka's
    members join. S stops cleanly, which leaves with epoch -2 (the broker
    keeps its place and assignment for the session timeout), and starts
    again at once: the new process gets the same partitions in the same
    member epoch, and neither other member sees a revoke or an assignment,
    then or for longer than the session timeout. A second process with
    the same instance id while the first runs is refused
    (UNRELEASED_INSTANCE_ID): it stops with that fatal error having owned
    and read nothing, and the first keeps its partitions."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique("static848"), unique("static848-g")
    create_topic(bootstrap, topic)
    writer = Writer(bootstrap, topic)
    instance = unique("inst")

    def join(kind, instance_id=None):
        return Member(kind, bootstrap, topic, group, "uniform", java_peer, instance_id=instance_id,
                      protocol="consumer")

    s = join("ours", instance)
    everyone = [s]
    try:
        wait_for("S owns everything", lambda: len(s.owned()) == PARTITIONS, 60, everyone)
        j, r = join("java"), join("librdkafka")
        everyone += [j, r]
        wait_settled([s, j, r], 90)
        wait_for("S reads", lambda: s.records(), 30, everyone)
        # A clean stop of a static member: it commits and leaves with
        # epoch -2; the restart takes its place back.
        s2, epoch, mine, others = bounce_static(s, (j, r), lambda: s.finish(),
                                                lambda: join("ours", instance),
                                                everyone, bootstrap, group, instance)
        wait_for("the restarted S reads", lambda: s2.records(), 30, everyone)
        member_id = s2.of("generation")[0]["member_id"]
        described = describe(bootstrap, group)
        statics = [m for m in described["members"] if m["instance_id"] == instance]
        assert [m["member_id"] for m in statics] == [member_id], described

        # A duplicate: the same instance id while S2 runs is refused.
        s3 = join("ours", instance)
        everyone.append(s3)
        wait_for("the duplicate stops", lambda: not s3.alive(), 60, everyone)
        assert s3.proc.returncode == 3, (s3.proc.returncode, s3.err[-10:])
        fatal = s3.of("fatal")
        assert fatal and "UnreleasedInstanceId" in fatal[0]["error"], (fatal, s3.events[-5:])
        assert not s3.of("assigned", "record"), s3.events[-5:]
        time.sleep(2)
        assert s2.alive() and s2.owned() == mine, (s2.owned(), s2.err[-5:])
        assert [e["generation"] for e in s2.of("generation")] == [epoch], s2.of("generation")
        for m, n in others.items():
            assert len(m.of("assigned", "revoked", "lost")) == n, (m, m.of("assigned", "revoked", "lost"))
        described = describe(bootstrap, group)
        statics = [m for m in described["members"] if m["instance_id"] == instance]
        assert [m["member_id"] for m in statics] == [member_id], described
        assert len(described["members"]) == 3, described

        writer.stop()
        for m in (j, r):
            m.finish()
        wait_for("S2 owns everything", lambda: len(s2.owned()) == PARTITIONS, 60, everyone)
        wait_committed_at_end(bootstrap, group, 60, everyone)
        s2.finish()
        check_all_read(writer, everyone)
        check_no_partition_read_by_two_at_once(everyone)
        check_committed_at_end(bootstrap, group)
    finally:
        wind_up(everyone, writer)


@pytest.mark.cap(240)
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
@pytest.mark.parametrize("victim", ["ours", "librdkafka", "java"])
def test_a_sigkilled_member_of_each_kind_is_taken_over(kafka_cluster, java_peer, victim, protocol):
    """Three members, one of each kind (ours is the blocking client's),
    speaking `protocol` with range (the client's or the broker's); the one
    of kind `victim` is SIGKILLed: after its session timeout the other two
    own all partitions between them, and every record written before and
    after is read by someone."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique(f"kill-{victim}"), unique("kill-g")
    create_topic(bootstrap, topic)
    writer = Writer(bootstrap, topic)
    everyone = []
    try:
        for kind in ("ours", "librdkafka", "java"):
            everyone.append(Member(kind, bootstrap, topic, group, "range", java_peer, protocol=protocol))
        wait_settled(everyone, 90)
        dead = next(m for m in everyone if m.kind == victim)
        survivors = [m for m in everyone if m is not dead]
        settled_at = max(e["ts"] for e in dead.of("assigned", "revoked", "lost"))
        wait_for("the victim reads each of its partitions",
                 lambda: dead.owned() <= {e["partition"] for e in dead.records() if e["ts"] >= settled_at},
                 30, everyone)
        orphaned = dead.owned()
        dead.kill()
        wait_for("its partitions taken over", lambda: shares_complete(survivors), 60, everyone)
        took = (now_ms() - dead.ended_at) / 1000
        # Not before its session expired (nobody told the group it left).
        assert took > SESSION_MS / 1000 * 0.5, took
        print(f"{victim} SIGKILLed: taken over after {took:.1f} s")
        # Records written after the take-over reach the survivors.
        wait_for("records after the take-over",
                 lambda: all(any(e["ts"] > dead.ended_at + took * 1000 for e in m.records()) for m in survivors),
                 30, everyone)
        writer.stop()
        # Everything written so far is read by someone.
        read = lambda: {e["value"] for m in everyone for e in m.records()}  # noqa: E731
        wait_for("every record read", lambda: writer.written <= read(), 60, everyone)
        for m in survivors:
            m.finish()
        check_all_read(writer, everyone)
        # The victim's partitions moved on; how many others moved while the
        # members joined depends on the order they came in.
        check_no_partition_read_by_two_at_once(everyone, least=len(orphaned))
    finally:
        wind_up(everyone, writer)
