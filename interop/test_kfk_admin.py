"""The admin commands of `kfk` against librdkafka's AdminClient
(confluent-kafka) and Kafka's own tools, on 3-node Apache Kafka
clusters, in both directions: what `kfk` changes the others observe, and
what they change `kfk --json` observes.

The cluster as both describe it; topics (partitions, replication
factor, configs) created and deleted, partitions added, topic and broker
configs set and deleted (with each config's source and read-only and
sensitive flags compared with librdkafka's), records deleted (the low watermark), group offsets altered
and groups deleted, SCRAM users set (then used to log in) and deleted
(then refused), client quotas (with Kafka's ConfigCommand, as librdkafka
has no quota API), and ACLs, on a second cluster with the
StandardAuthorizer (`kafka_acl_cluster`), where an ACL `kfk` adds or
removes also grants or takes away a SCRAM user's right. Kafka's
ConfigCommand and AclCommand cross-check configs and ACLs, TopicCommand
a created topic, and the group tool offsets `kfk` set.

Replicas and the rest: partitions moved (with Kafka's reassign tool) and
preferred leaders elected after the move, by each side; an unclean
election making an out-of-sync replica lead (brokers stopped and started
on the session's cluster, which is whole again afterwards); log dirs
(Kafka's log-dirs tool), producers' state and transactions (Kafka's
transactions tool), group offsets deleted (the group tool), and feature
levels described and changed (Kafka's features tool; streams.version
moved and restored).
"""

import json
import os
import re
import subprocess
import time

import pytest
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from conftest import jdk_tool, kafka_home, kfk, kfk_bin, unique, wait_until

# Every admin future is waited for at most this long.
FUTURE_TIMEOUT = 30


# ------------------------------------------------------------------ helpers


_ADMINS = {}


def admin(bootstrap: str) -> AdminClient:
    """One librdkafka AdminClient per cluster, kept for the session: a
    client dropped while a request is in flight fails its futures."""
    if bootstrap not in _ADMINS:
        _ADMINS[bootstrap] = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    return _ADMINS[bootstrap]


def done(futures):
    """The results of a dict of futures (or of one future)."""
    if isinstance(futures, dict):
        return {k: f.result(timeout=FUTURE_TIMEOUT) for k, f in futures.items()}
    return futures.result(timeout=FUTURE_TIMEOUT)


def eventually(check, what: str, timeout: float = 30):
    """Runs `check` until it passes (returns without an AssertionError)
    and returns what it returns. A change made through one broker reaches
    the others from the metadata log a moment later, and a describe may
    ask any of them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                print(f"still failing after {timeout}s: {what}")
                raise
            time.sleep(0.2)


def kfk_json(*args: str):
    return json.loads(kfk(*args).stdout)


def kfk_try(*args: str, env=None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Runs kfk without failing the test on a non-zero exit."""
    return subprocess.run(
        [str(kfk_bin()), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env=env,
    )


def kafka_tool(main_class: str, *args: str) -> str:
    """Runs one of Kafka's command-line tools (by main class, from the
    install's libs); its stdout, failing the test on a non-zero exit."""
    out = subprocess.run(
        [jdk_tool("java"), "-Xmx256m", "-cp", f"{kafka_home()}/libs/*",
         f"org.apache.kafka.tools.{main_class}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=90,
    )
    assert out.returncode == 0, f"{main_class} {args}: {out.stderr.decode(errors='replace')[-3000:]}"
    return out.stdout.decode()


def rd_topic(bootstrap: str, topic: str):
    """librdkafka's metadata of `topic`, or None while it has none."""
    md = admin(bootstrap).list_topics(topic=topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return t


def rd_configs(bootstrap: str, restype: ResourceType, name: str) -> dict:
    resource = ConfigResource(restype, name)
    return done(admin(bootstrap).describe_configs([resource]))[resource]


def kfk_configs(bootstrap: str, *resource: str) -> dict:
    described = kfk_json("-b", bootstrap, "config", "describe", *resource, "--json")
    # kfk's JSON is an object of config name -> entry.
    return {name: dict(c, name=name) for name, c in described.items()}


def rd_alter(bootstrap: str, restype: ResourceType, name: str, *changes):
    """Incremental changes through librdkafka: (op, name, value) each."""
    entries = [ConfigEntry(k, v, incremental_operation=op) for op, k, v in changes]
    resource = ConfigResource(restype, name, incremental_configs=entries)
    done(admin(bootstrap).incremental_alter_configs([resource]))


def produce(bootstrap: str, topic: str, per_partition: dict):
    """`per_partition[p]` records to each partition p, with librdkafka."""
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for partition, n in per_partition.items():
        for i in range(n):
            p.produce(topic, value=f"v{i}".encode(), partition=partition)
    assert p.flush(30) == 0


def create_topic(bootstrap: str, topic: str, partitions: int):
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", str(partitions))


@pytest.fixture(scope="module", autouse=True)
def _drop_admins():
    """Drops the cached clients before the clusters stop, so they do not
    log failed reconnects at the end of the session."""
    yield
    _ADMINS.clear()


# ------------------------------------------------------------------ topics


@pytest.mark.cap(90)
def test_topics_created_and_deleted_both_ways(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    ours, theirs = unique("adm-ours"), unique("adm-theirs")

    # kfk creates: librdkafka sees the partitions, replicas and configs.
    kfk("-b", bootstrap, "topic", "create", ours, "--partitions", "3", "--replication-factor", "2",
        "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
    t = wait_until(lambda: rd_topic(bootstrap, ours), 30, f"librdkafka to see {ours}")
    assert sorted(t.partitions) == [0, 1, 2]
    assert all(len(p.replicas) == 2 for p in t.partitions.values()), t.partitions
    def rd_sees_configs():
        configs = rd_configs(bootstrap, ResourceType.TOPIC, ours)
        for name, value in [("retention.ms", "3600000"), ("cleanup.policy", "compact")]:
            assert configs[name].value == value
            assert configs[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert configs["segment.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    eventually(rd_sees_configs, "librdkafka to see the topic's configs")

    # Kafka's TopicCommand describes it the same way.
    def tool_sees():
        described = kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--describe",
                               "--topic", ours)
        assert re.search(r"PartitionCount:\s*3\s+ReplicationFactor:\s*2\b", described), described
        # Besides the topic's own, it lists what the cluster's dynamic
        # broker defaults set.
        configs = re.search(r"Configs:\s*(\S+)", described)
        assert configs and {"cleanup.policy=compact", "retention.ms=3600000"} <= set(
            configs.group(1).split(",")), described

    eventually(tool_sees, "TopicCommand to describe kfk's topic")

    # librdkafka creates: kfk sees the same.
    created = admin(bootstrap).create_topics(
        [NewTopic(theirs, num_partitions=4, replication_factor=3,
                  config={"max.message.bytes": "200000"})],
        operation_timeout=30,
    )
    done(created)

    def kfk_sees_theirs():
        run = kfk_try("-b", bootstrap, "metadata", "-t", theirs, "--json")
        if run.returncode != 0:
            return None
        topics = json.loads(run.stdout)["topics"]
        return topics[0] if topics and len(topics[0]["partitions"]) == 4 else None

    t = wait_until(kfk_sees_theirs, 30, f"kfk to see {theirs}")
    assert t["name"] == theirs and t["error"] is None
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2, 3]
    assert all(sorted(p["replicas"]) == [1, 2, 3] for p in t["partitions"]), t

    def kfk_sees_configs():
        configs = kfk_configs(bootstrap, "--topic", theirs)
        assert configs["max.message.bytes"]["value"] == "200000"
        assert configs["max.message.bytes"]["source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["max.message.bytes"]["default"] is False
        assert configs["segment.ms"]["source"] == "DEFAULT_CONFIG"

    eventually(kfk_sees_configs, "kfk to see the topic's configs")

    # Each deletes the other's topic, and the other sees it gone.
    kfk("-b", bootstrap, "topic", "delete", theirs)
    done(admin(bootstrap).delete_topics([ours], operation_timeout=30))
    wait_until(lambda: not rd_lists(bootstrap, theirs), 30, f"librdkafka to lose {theirs}")
    wait_until(
        lambda: ours not in kfk("-b", bootstrap, "topic", "list").stdout.decode().split(),
        30, f"kfk to lose {ours}", interval=0.5,
    )


def rd_lists(bootstrap: str, topic: str) -> bool:
    """Whether librdkafka's list of every topic has `topic`. Asking for
    the one topic instead would create it: librdkafka's admin handle asks
    with auto-creation allowed, and the broker's default allows it."""
    return topic in admin(bootstrap).list_topics(timeout=10).topics


def rd_describe_topic(bootstrap: str, topic: str):
    """librdkafka's description of `topic`, with its authorized operations."""
    described = admin(bootstrap).describe_topics(
        TopicCollection([topic]), include_authorized_operations=True, request_timeout=10)
    return done(described)[topic]


@pytest.mark.cap(90)
def test_topic_assignments_validation_ids_and_operations_both_ways(kafka_cluster):
    """Topics created with explicit replica assignments and validate-only
    by each side, deleted by id by kfk, and the authorized operations
    kfk and librdkafka read for the same topic."""
    bootstrap = kafka_cluster["bootstrap"]
    ours, theirs = unique("adm-assigned"), unique("adm-assigned-rd")
    never_ours, never_theirs = unique("adm-validate"), unique("adm-validate-rd")

    # kfk creates with an assignment: librdkafka and TopicCommand see each
    # partition's replicas in that order, the first leading.
    out = kfk_json("-b", bootstrap, "topic", "create", ours, "--replica-assignment", "3:1,1:2",
                   "--json")
    assert [o["error"] for o in out] == [None], out
    def rd_sees_assignment():
        d = rd_describe_topic(bootstrap, ours)
        got = {p.id: ([r.id for r in p.replicas], p.leader.id if p.leader else None)
               for p in d.partitions}
        assert got == {0: ([3, 1], 3), 1: ([1, 2], 1)}, got
        return d
    described = eventually(rd_sees_assignment, "librdkafka to see kfk's assignment")
    tool = tool_partitions(bootstrap, ours)
    assert {p: (v["replicas"], v["leader"]) for p, v in tool.items()} == {0: ([3, 1], 3), 1: ([1, 2], 1)}, tool

    # The same topic's id and authorized operations, as each reads them
    # (no authorizer here: everything a topic allows).
    mine = kfk_json("-b", bootstrap, "topic", "describe", ours, "--authorized-operations", "--json")
    # kfk prints ids as Kafka's tools do (URL-safe base64, unpadded);
    # librdkafka's string uses the standard alphabet.
    rd_id = str(described.topic_id).replace("+", "-").replace("/", "_").rstrip("=")
    assert mine["id"] == rd_id, (mine["id"], str(described.topic_id))
    rd_ops = sorted(op.name for op in described.authorized_operations)
    assert sorted(mine["authorized_operations"]) == rd_ops, (mine["authorized_operations"], rd_ops)
    assert {"READ", "WRITE", "DESCRIBE", "DELETE"} <= set(rd_ops), rd_ops

    # Validate-only on each side creates nothing the other sees.
    out = kfk_json("-b", bootstrap, "topic", "create", never_ours, "--partitions", "2",
                   "--replication-factor", "3", "--validate-only", "--json")
    assert [o["error"] for o in out] == [None], out
    refused = kfk_try("-b", bootstrap, "topic", "create", never_ours, "--replica-assignment", "1:99",
                      "--validate-only", "--json")
    assert refused.returncode != 0 and b"INVALID_REPLICA_ASSIGNMENT" in refused.stdout + refused.stderr, refused
    done(admin(bootstrap).create_topics(
        [NewTopic(never_theirs, num_partitions=1, replica_assignment=[[2, 3]])],
        validate_only=True, operation_timeout=30))
    for name in (never_ours, never_theirs):
        assert not rd_lists(bootstrap, name), name
        gone = kfk_try("-b", bootstrap, "topic", "describe", name, "--json")
        assert gone.returncode != 0 and b"UNKNOWN_TOPIC_OR_PARTITION" in gone.stdout + gone.stderr, gone

    # librdkafka creates with an assignment: kfk sees it.
    create_assigned(bootstrap, theirs, [[2, 3], [3, 1], [1, 2]])
    def kfk_sees_assignment():
        d = kfk_json("-b", bootstrap, "topic", "describe", theirs, "--json")
        got = {p["partition"]: (p["replicas"], p["leader"]) for p in d["partitions"]}
        assert got == {0: ([2, 3], 2), 1: ([3, 1], 3), 2: ([1, 2], 1)}, got
        assert all(p["offline_replicas"] == [] for p in d["partitions"]), d
        return d
    theirs_id = eventually(kfk_sees_assignment, "kfk to see librdkafka's assignment")["id"]

    # kfk deletes both by id: librdkafka sees them go.
    for name, topic_id in ((ours, mine["id"]), (theirs, theirs_id)):
        out = kfk_json("-b", bootstrap, "topic", "delete", "--id", topic_id, "--json")
        assert [(o["id"], o["name"], o["error"]) for o in out] == [(topic_id, name, None)], out
        wait_until(lambda: not rd_lists(bootstrap, name), 30, f"librdkafka to see {name} gone")


@pytest.mark.cap(60)
def test_partitions_added_both_ways(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-grow")
    create_topic(bootstrap, topic, 2)

    kfk("-b", bootstrap, "topic", "add-partitions", topic, "--partitions", "5")
    wait_until(lambda: (t := rd_topic(bootstrap, topic)) and len(t.partitions) == 5, 30,
               "librdkafka to see 5 partitions")

    done(admin(bootstrap).create_partitions([NewPartitions(topic, 7)], operation_timeout=30))

    def kfk_partitions():
        md = kfk_json("-b", bootstrap, "metadata", "-t", topic, "--json")
        return len(md["topics"][0]["partitions"]) == 7

    wait_until(kfk_partitions, 30, "kfk to see 7 partitions", interval=0.3)

    # Shrinking is refused to both.
    assert kfk_try("-b", bootstrap, "topic", "add-partitions", topic, "--partitions", "3").returncode != 0
    with pytest.raises(KafkaException):
        done(admin(bootstrap).create_partitions([NewPartitions(topic, 3)]))


@pytest.mark.cap(60)
def test_cluster_described_as_librdkafka_sees_it(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    ours = kfk_json("-b", bootstrap, "cluster", "--json")
    theirs = done(admin(bootstrap).describe_cluster())
    assert ours["cluster_id"] == theirs.cluster_id
    # Under KRaft a broker names a random live broker as the controller.
    ids = {n.id for n in theirs.nodes}
    assert ours["controller"] in ids and theirs.controller.id in ids
    assert sorted((b["id"], b["host"], b["port"]) for b in ours["brokers"]) == sorted(
        (n.id, n.host, n.port) for n in theirs.nodes
    )
    assert not any(b["fenced"] for b in ours["brokers"])
    finalized = {f["name"]: f["max"] for f in ours["features"]["finalized"]}
    supported = {f["name"]: (f["min"], f["max"]) for f in ours["features"]["supported"]}
    assert finalized["metadata.version"] >= 1 and "metadata.version" in supported
    for name, level in finalized.items():
        low, high = supported[name]
        assert level <= high, (name, level, high)


# ------------------------------------------------------------------ configs


@pytest.mark.cap(120)
def test_topic_configs_set_and_deleted_both_ways_and_with_kafka_tool(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-cfg")
    create_topic(bootstrap, topic, 1)

    def rd(name):
        return rd_configs(bootstrap, ResourceType.TOPIC, topic)[name]

    def ours(name):
        return kfk_configs(bootstrap, "--topic", topic)[name]

    def rd_sees(name, value, source):
        def check():
            c = rd(name)
            assert (c.value, c.source) == (value, source.value), (name, c.value, c.source)
            assert c.is_default == (source == ConfigSource.DEFAULT_CONFIG)
        eventually(check, f"librdkafka to see {name}={value}")

    def kfk_sees(name, value, source):
        def check():
            c = ours(name)
            assert (c["value"], c["source"]) == (value, source), c
            assert c["default"] == (source == "DEFAULT_CONFIG")
        eventually(check, f"kfk to see {name}={value}")

    # kfk sets two and librdkafka sees them; kfk deletes one and
    # librdkafka sees it back at its default.
    kfk("-b", bootstrap, "config", "alter", "--topic", topic,
        "--set", "retention.ms=1234567", "--set", "cleanup.policy=compact")
    rd_sees("retention.ms", "1234567", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    rd_sees("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    kfk("-b", bootstrap, "config", "alter", "--topic", topic, "--delete", "retention.ms")
    rd_sees("retention.ms", "604800000", ConfigSource.DEFAULT_CONFIG)

    # librdkafka sets and deletes; kfk sees each.
    rd_alter(bootstrap, ResourceType.TOPIC, topic,
             (AlterConfigOpType.SET, "max.message.bytes", "300000"),
             (AlterConfigOpType.DELETE, "cleanup.policy", None))
    kfk_sees("max.message.bytes", "300000", "DYNAMIC_TOPIC_CONFIG")
    kfk_sees("cleanup.policy", "delete", "DEFAULT_CONFIG")

    # A list config grows and shrinks by one value; a validate-only
    # change and a bad value are refused or checked, never applied.
    kfk("-b", bootstrap, "config", "alter", "--topic", topic, "--append", "cleanup.policy=compact")
    rd_sees("cleanup.policy", "delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    kfk("-b", bootstrap, "config", "alter", "--topic", topic, "--subtract", "cleanup.policy=delete")
    rd_sees("cleanup.policy", "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    kfk("-b", bootstrap, "config", "alter", "--topic", topic, "--validate-only",
        "--set", "max.message.bytes=400000")
    bad = kfk_try("-b", bootstrap, "config", "alter", "--topic", topic, "--set", "retention.ms=soon")
    assert bad.returncode != 0 and b"INVALID_CONFIG" in bad.stderr.upper().replace(b" ", b"_"), bad.stderr

    # Synonyms: each config's value at every source, as librdkafka lists
    # them (keyed by name there, so of two synonyms with one name, as a
    # broker default set dynamically and Kafka's default, it keeps one).
    ours_all = kfk_json("-b", bootstrap, "config", "describe", "--topic", topic, "--synonyms", "--json")
    resource = ConfigResource(ResourceType.TOPIC, topic)
    theirs = done(admin(bootstrap).describe_configs([resource]))[resource]
    ours_all = [dict(c, name=name) for name, c in ours_all.items()]
    for c in ours_all:
        synonyms = {(s["name"], s["value"], s["source"]) for s in c["synonyms"]}
        t = theirs[c["name"]].synonyms.values()
        assert {s[0] for s in synonyms} == {s.name for s in t}, c["name"]
        assert {(s.name, s.value, ConfigSource(s.source).name) for s in t} <= synonyms, c["name"]
    mmb = {c["name"]: c for c in ours_all}["max.message.bytes"]
    assert mmb["value"] == "300000", "the validate-only change was not applied"
    assert [s["source"] for s in mmb["synonyms"]][:1] == ["DYNAMIC_TOPIC_CONFIG"], mmb
    assert rd("retention.ms").value == "604800000", "the bad value was not applied"

    # Kafka's ConfigCommand sees what kfk set, and kfk what it sets.
    kfk("-b", bootstrap, "config", "alter", "--topic", topic, "--set", "segment.ms=7200000")

    def tool_sees():
        described = kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--describe",
                               "--entity-type", "topics", "--entity-name", topic)
        assert re.search(r"\bsegment\.ms=7200000\b", described), described
        assert re.search(r"\bmax\.message\.bytes=300000\b", described), described

    eventually(tool_sees, "ConfigCommand to see kfk's change")
    kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--alter",
               "--entity-type", "topics", "--entity-name", topic,
               "--add-config", "min.cleanable.dirty.ratio=0.25", "--delete-config", "segment.ms")
    kfk_sees("min.cleanable.dirty.ratio", "0.25", "DYNAMIC_TOPIC_CONFIG")
    kfk_sees("segment.ms", "604800000", "DEFAULT_CONFIG")


# A broker config every broker may change on its own and that no test
# depends on: how long the log cleaner sleeps when it has nothing to do.
BROKER_CONFIG = "log.cleaner.backoff.ms"


@pytest.mark.cap(90)
def test_broker_configs_agree_with_librdkafka_and_change_both_ways(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]

    # Every config of broker 1: the same value, source and flags in kfk's
    # JSON as librdkafka describes; sensitive ones have no value in both.
    ours = kfk_configs(bootstrap, "--broker", "1")
    theirs = rd_configs(bootstrap, ResourceType.BROKER, "1")
    assert set(ours) == set(theirs)
    for name, c in ours.items():
        t = theirs[name]
        assert (c["value"], c["source"], c["read_only"], c["sensitive"], c["default"]) == (
            t.value, ConfigSource(t.source).name, t.is_read_only, t.is_sensitive, t.is_default
        ), name
    sensitive = [c for c in ours.values() if c["sensitive"]]
    assert sensitive and all(c["value"] is None for c in sensitive)
    # The JAAS line (with its passwords) is one of them, set in the file.
    jaas = ours["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert jaas["sensitive"] and jaas["source"] == "STATIC_BROKER_CONFIG"
    assert ours["node.id"]["read_only"] and ours["node.id"]["value"] == "1"
    assert ours[BROKER_CONFIG]["source"] == "DEFAULT_CONFIG"

    def rd_sees(broker, value, source):
        c = rd_configs(bootstrap, ResourceType.BROKER, broker)[BROKER_CONFIG]
        return c.value == value and c.source == source.value

    def kfk_sees(resource, value, source):
        c = kfk_configs(bootstrap, *resource)[BROKER_CONFIG]
        return c["value"] == value and c["source"] == source

    try:
        # kfk sets it on broker 2: librdkafka sees it there, not on 1.
        kfk("-b", bootstrap, "config", "alter", "--broker", "2", "--set", f"{BROKER_CONFIG}=16000")
        wait_until(lambda: rd_sees("2", "16000", ConfigSource.DYNAMIC_BROKER_CONFIG), 30,
                   "librdkafka to see broker 2's new config", interval=0.3)
        assert rd_sees("1", "15000", ConfigSource.DEFAULT_CONFIG)

        # kfk sets the default of every broker (librdkafka cannot name
        # that resource): librdkafka sees it on broker 3, and broker 2's
        # own value still wins there.
        kfk("-b", bootstrap, "config", "alter", "--broker-defaults", "--set", f"{BROKER_CONFIG}=17000")
        wait_until(lambda: rd_sees("3", "17000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG), 30,
                   "librdkafka to see the new broker default", interval=0.3)
        assert rd_sees("2", "16000", ConfigSource.DYNAMIC_BROKER_CONFIG)
        assert kfk_sees(["--broker-defaults"], "17000", "DYNAMIC_DEFAULT_BROKER_CONFIG")

        # librdkafka deletes broker 2's and sets broker 1's: kfk sees the
        # default on 2 and the new value on 1.
        rd_alter(bootstrap, ResourceType.BROKER, "2", (AlterConfigOpType.DELETE, BROKER_CONFIG, None))
        rd_alter(bootstrap, ResourceType.BROKER, "1", (AlterConfigOpType.SET, BROKER_CONFIG, "18000"))
        wait_until(lambda: kfk_sees(["--broker", "2"], "17000", "DYNAMIC_DEFAULT_BROKER_CONFIG"), 30,
                   "kfk to see broker 2 back at the default", interval=0.3)
        wait_until(lambda: kfk_sees(["--broker", "1"], "18000", "DYNAMIC_BROKER_CONFIG"), 30,
                   "kfk to see broker 1's new config", interval=0.3)
    finally:
        for resource in (["--broker", "1"], ["--broker", "2"], ["--broker-defaults"]):
            kfk_try("-b", bootstrap, "config", "alter", *resource, "--delete", BROKER_CONFIG)


# ------------------------------------------------------------------ records


@pytest.mark.cap(60)
def test_records_deleted_both_ways(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-del")
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, {0: 10, 1: 10, 2: 10})

    # kfk deletes before 4 on partition 0: the low watermark librdkafka
    # sees moves there, and only there.
    out = kfk("-b", bootstrap, "delete-records", "-t", topic, "-p", "0", "--before", "4")
    assert out.stdout.decode().split() == ["TOPIC", "PARTITION", "LOW-WATERMARK", topic, "0", "4"]
    rd = admin(bootstrap)
    earliest = done(rd.list_offsets({TopicPartition(topic, p): OffsetSpec.earliest() for p in range(3)}))
    assert {tp.partition: r.offset for tp, r in earliest.items()} == {0: 4, 1: 0, 2: 0}
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "log_level": 3})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (4, 10)
        # ... and `--before end` empties a partition.
        kfk("-b", bootstrap, "delete-records", "-t", topic, "-p", "2", "--before", "end")
        assert c.get_watermark_offsets(TopicPartition(topic, 2), timeout=10) == (10, 10)
    finally:
        c.close()

    # librdkafka deletes before 7 on partition 1: kfk's offsets show it.
    deleted = done(rd.delete_records([TopicPartition(topic, 1, 7)]))
    assert [r.low_watermark for r in deleted.values()] == [7]
    lines = kfk("-b", bootstrap, "offsets", "-t", topic).stdout.decode().splitlines()
    rows = [line.split() for line in lines[1:]]
    assert rows == [["0", "4", "10"], ["1", "7", "10"], ["2", "10", "10"]], lines


# ------------------------------------------------------------------ groups


def rd_committed(bootstrap: str, group: str) -> dict:
    got = done(admin(bootstrap).list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)]))
    return {(tp.topic, tp.partition): tp.offset for tp in got[group].topic_partitions}


def rd_groups(bootstrap: str) -> set:
    return {g.group_id for g in done(admin(bootstrap).list_consumer_groups()).valid}


def kfk_groups(bootstrap: str) -> set:
    return {g["group"] for g in kfk_json("-b", bootstrap, "group", "list", "--json")}


@pytest.mark.cap(90)
def test_group_offsets_altered_and_groups_deleted_both_ways(kafka_cluster):
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-grp")
    ours, theirs = unique("adm-g-ours"), unique("adm-g-theirs")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, {0: 10, 1: 10})

    # kfk sets a group's offsets: librdkafka reads them back.
    kfk("-b", bootstrap, "group", "reset-offsets", ours, "-t", topic, "--to", "3", "--execute")
    assert rd_committed(bootstrap, ours) == {(topic, 0): 3, (topic, 1): 3}
    kfk("-b", bootstrap, "group", "reset-offsets", ours, "-t", topic, "--to", "latest", "--execute")
    assert rd_committed(bootstrap, ours) == {(topic, 0): 10, (topic, 1): 10}
    # And Kafka's group tool: GROUP TOPIC PARTITION CURRENT-OFFSET ...
    described = kafka_tool("consumer.group.ConsumerGroupCommand", "--bootstrap-server", bootstrap,
                           "--describe", "--group", ours)
    rows = [line.split() for line in described.splitlines()]
    assert sorted((int(r[2]), int(r[3])) for r in rows if len(r) > 3 and r[1] == topic) == [
        (0, 10), (1, 10)], described

    # librdkafka sets another's: kfk describes them, with the lag.
    altered = admin(bootstrap).alter_consumer_group_offsets([
        ConsumerGroupTopicPartitions(theirs, [TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 7)])
    ])
    done(altered)
    described = kfk_json("-b", bootstrap, "group", "describe", theirs, "--json")
    assert described["group"] == theirs and described["members"] == []
    assert sorted((o["partition"], o["committed"], o["end"], o["lag"]) for o in described["offsets"]) == [
        (0, 5, 10, 5), (1, 7, 10, 3)
    ], described
    assert {ours, theirs} <= kfk_groups(bootstrap)
    wait_until(lambda: {ours, theirs} <= rd_groups(bootstrap), 10, "librdkafka to list both groups")

    # Each deletes the other's group; each sees both gone.
    kfk("-b", bootstrap, "group", "delete", theirs)
    done(admin(bootstrap).delete_consumer_groups([ours]))
    assert not {ours, theirs} & kfk_groups(bootstrap)
    assert not {ours, theirs} & rd_groups(bootstrap)
    # Deleting again is an error to kfk.
    assert kfk_try("-b", bootstrap, "group", "delete", ours).returncode != 0


@pytest.mark.cap(60)
def test_group_offsets_deleted_both_ways(kafka_cluster):
    """kfk deletes an empty group's committed offset of one partition:
    librdkafka and Kafka's group tool no longer list it (the other stays);
    the group tool deletes the other, and kfk sees none left."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, group = unique("adm-doff"), unique("adm-g-doff")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, {0: 6, 1: 6})
    # kfk commits first: it waits until the group's coordinator answers.
    # Before then, librdkafka 2.16's AdminClient crashes listing offsets
    # when OffsetFetch answers NOT_COORDINATOR (its error path asks a
    # consumer group the AdminClient does not have: librdkafka#5040); this
    # happened when this test ran first on a fresh cluster.
    kfk("-b", bootstrap, "group", "reset-offsets", group, "-t", topic, "--to", "3", "--execute")
    done(admin(bootstrap).alter_consumer_group_offsets([
        ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 5)])
    ]))
    assert rd_committed(bootstrap, group) == {(topic, 0): 3, (topic, 1): 5}

    deleted = kfk_json("-b", bootstrap, "group", "delete-offsets", group, f"{topic}:0", "--json")
    assert deleted == [{"topic": topic, "partition": 0, "error": None, "message": None}], deleted
    assert rd_committed(bootstrap, group) == {(topic, 1): 5}
    # GROUP TOPIC PARTITION CURRENT-OFFSET ...
    described = kafka_tool("consumer.group.ConsumerGroupCommand", "--bootstrap-server", bootstrap,
                           "--describe", "--group", group)
    rows = [line.split() for line in described.splitlines()]
    assert [(int(r[2]), int(r[3])) for r in rows if len(r) > 3 and r[1] == topic] == [(1, 5)], described

    out = kafka_tool("consumer.group.ConsumerGroupCommand", "--bootstrap-server", bootstrap,
                     "--delete-offsets", "--group", group, "--topic", f"{topic}:1")
    assert re.search(rf"^{re.escape(topic)}\s+1\s+Successful\s*$", out, re.M), out
    described = kfk_json("-b", bootstrap, "group", "describe", group, "--json")
    assert described["state"] == "Empty" and described["offsets"] == [], described
    assert rd_committed(bootstrap, group) == {}


# ------------------------------------------------------------------ SCRAM


def rd_login(bootstrap: str, mechanism: str, user: str, password: str) -> bool:
    """Whether librdkafka logs in on the SASL listener with this
    credential: True when Metadata answers, False on an authentication
    error."""
    errors = []
    client = AdminClient({
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "log_level": 0,
        "error_cb": errors.append,
    })
    deadline = time.monotonic() + 20
    while True:
        try:
            client.list_topics(timeout=1)
            return True
        except KafkaException as e:
            # The authentication error itself reaches error_cb on a poll.
            client.poll(0.1)
            codes = {e.args[0].code()} | {err.code() for err in errors}
            if KafkaError._AUTHENTICATION in codes:
                return False
            if time.monotonic() > deadline:
                raise


def rd_scram(bootstrap: str, user: str):
    """The user's (mechanism, iterations), sorted, as librdkafka describes
    them; None once the user has none (RESOURCE_NOT_FOUND)."""
    try:
        described = done(admin(bootstrap).describe_user_scram_credentials([user]))[user]
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.RESOURCE_NOT_FOUND, e
        return None
    return sorted((c.mechanism.name, c.iterations) for c in described.scram_credential_infos)


def kfk_login(bootstrap: str, mechanism: str, user: str, password: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KFK_SASL_PASSWORD": password}
    return kfk_try("-b", bootstrap, "--sasl-mechanism", mechanism, "--sasl-username", user,
                   "metadata", "--json", env=env)


@pytest.mark.cap(120)
def test_scram_user_kfk_sets_logs_librdkafka_in_until_deleted(kafka_cluster):
    bootstrap, sasl = kafka_cluster["bootstrap"], kafka_cluster["sasl_plaintext"]
    user, password = unique("adm-u"), "kfk-set-secret"

    env = {**os.environ, "KFK_SCRAM_PASSWORD": password}
    run = kfk_try("-b", bootstrap, "user", "set-scram", "--user", user,
                  "--mechanism", "SCRAM-SHA-256", "--iterations", "4096", env=env)
    assert run.returncode == 0, run.stderr
    eventually(lambda: rd_scram(bootstrap, user) == [("SCRAM_SHA_256", 4096)],
               "librdkafka to describe the credential")
    # The brokers learn the credential from the metadata log a moment later.
    wait_until(lambda: rd_login(sasl, "SCRAM-SHA-256", user, password), 30,
               "librdkafka to log in with the credential kfk set", interval=0.5)
    assert not rd_login(sasl, "SCRAM-SHA-256", user, "wrong")
    assert not rd_login(sasl, "SCRAM-SHA-512", user, password)

    # A second mechanism with its own password; deleting the first leaves
    # the second working.
    env512 = {**os.environ, "KFK_SCRAM_PASSWORD": "kfk-set-512"}
    run = kfk_try("-b", bootstrap, "user", "set-scram", "--user", user,
                  "--mechanism", "SCRAM-SHA-512", env=env512)
    assert run.returncode == 0, run.stderr
    eventually(lambda: rd_scram(bootstrap, user) == [("SCRAM_SHA_256", 4096), ("SCRAM_SHA_512", 8192)],
               "librdkafka to describe both credentials")
    wait_until(lambda: rd_login(sasl, "SCRAM-SHA-512", user, "kfk-set-512"), 30,
               "librdkafka to log in with SCRAM-SHA-512", interval=0.5)

    kfk("-b", bootstrap, "user", "delete-scram", "--user", user, "--mechanism", "SCRAM-SHA-256")
    eventually(lambda: rd_scram(bootstrap, user) == [("SCRAM_SHA_512", 8192)],
               "librdkafka to describe one credential")
    wait_until(lambda: not rd_login(sasl, "SCRAM-SHA-256", user, password), 30,
               "the deleted credential to stop logging librdkafka in", interval=0.5)
    assert rd_login(sasl, "SCRAM-SHA-512", user, "kfk-set-512")

    kfk("-b", bootstrap, "user", "delete-scram", "--user", user, "--mechanism", "SCRAM-SHA-512")
    eventually(lambda: rd_scram(bootstrap, user) is None, "librdkafka to describe no credential")
    wait_until(lambda: not rd_login(sasl, "SCRAM-SHA-512", user, "kfk-set-512"), 30,
               "the last credential to stop logging librdkafka in", interval=0.5)


@pytest.mark.cap(120)
def test_scram_user_librdkafka_sets_logs_kfk_in_until_deleted(kafka_cluster):
    bootstrap, sasl = kafka_cluster["bootstrap"], kafka_cluster["sasl_plaintext"]
    user, password = unique("adm-u"), "librdkafka-set-secret"

    upsert = UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 5000), password.encode()
    )
    done(admin(bootstrap).alter_user_scram_credentials([upsert]))
    def kfk_lists():
        listed = kfk_json("-b", bootstrap, "user", "list", "--user", user, "--json")
        assert listed == [{"user": user, "credentials": [{"mechanism": "SCRAM-SHA-512", "iterations": 5000}]}]

    eventually(kfk_lists, "kfk to list the credential")
    assert user in {u["user"] for u in kfk_json("-b", bootstrap, "user", "list", "--json")}

    wait_until(lambda: kfk_login(sasl, "SCRAM-SHA-512", user, password).returncode == 0, 30,
               "kfk to log in with the credential librdkafka set", interval=0.5)
    wrong = kfk_login(sasl, "SCRAM-SHA-512", user, "wrong")
    assert wrong.returncode != 0 and b"uthentication" in wrong.stderr, wrong.stderr

    done(admin(bootstrap).alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)]))
    wait_until(lambda: kfk_try("-b", bootstrap, "user", "list", "--user", user, "--json").returncode != 0,
               30, "kfk to find no credential", interval=0.3)

    def refused():
        run = kfk_login(sasl, "SCRAM-SHA-512", user, password)
        return run.returncode != 0 and b"uthentication" in run.stderr

    wait_until(refused, 30, "the deleted credential to stop logging kfk in", interval=0.5)


# ------------------------------------------------------------------ quotas


@pytest.mark.cap(90)
def test_quotas_with_kafka_config_command(kafka_cluster):
    """librdkafka has no client-quota API: Kafka's ConfigCommand checks."""
    bootstrap = kafka_cluster["bootstrap"]
    user, client_id = unique("adm-qu"), unique("adm-qc")

    kfk("-b", bootstrap, "quota", "set", "--user", user,
        "--set", "producer_byte_rate=1048576", "--set", "consumer_byte_rate=2097152")
    def tool_sees_user():
        described = kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--describe",
                               "--entity-type", "users", "--entity-name", user)
        assert re.search(r"producer_byte_rate=1048576(\.0)?\b", described), described
        assert re.search(r"consumer_byte_rate=2097152(\.0)?\b", described), described

    eventually(tool_sees_user, "ConfigCommand to see kfk's quotas")

    kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--alter",
               "--entity-type", "clients", "--entity-name", client_id,
               "--add-config", "request_percentage=25,producer_byte_rate=4096")
    def kfk_sees_client():
        listed = kfk_json("-b", bootstrap, "quota", "list", "--client-id", client_id, "--json")
        assert listed == [{"entity": {"client-id": client_id},
                           "quotas": {"request_percentage": 25.0, "producer_byte_rate": 4096.0}}], listed

    eventually(kfk_sees_client, "kfk to see ConfigCommand's quotas")

    # kfk removes one of each; the user's remaining quota and nothing of
    # the client's removed one is left.
    kfk("-b", bootstrap, "quota", "set", "--user", user, "--remove", "consumer_byte_rate")
    kfk("-b", bootstrap, "quota", "set", "--client-id", client_id, "--remove", "request_percentage")

    def kfk_sees_user():
        listed = kfk_json("-b", bootstrap, "quota", "list", "--user", user, "--json")
        assert listed == [{"entity": {"user": user}, "quotas": {"producer_byte_rate": 1048576.0}}], listed

    eventually(kfk_sees_user, "kfk to see the user's remaining quota")

    def tool_sees_client():
        described = kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--describe",
                               "--entity-type", "clients", "--entity-name", client_id)
        assert "request_percentage" not in described and re.search(
            r"producer_byte_rate=4096(\.0)?\b", described), described

    eventually(tool_sees_client, "ConfigCommand to see the client's remaining quota")

    # The default client id (`<default>` to kfk, `--entity-default` to
    # Kafka's tool): a rate far above anything the suite sends.
    try:
        kfk("-b", bootstrap, "quota", "set", "--client-id", "<default>",
            "--set", "producer_byte_rate=1073741824")

        def tool_sees_default():
            described = kafka_tool("ConfigCommand", "--bootstrap-server", bootstrap, "--describe",
                                   "--entity-type", "clients", "--entity-default")
            # Java prints the double as 1.073741824E9.
            rate = re.search(r"producer_byte_rate=([0-9.E]+)", described)
            assert rate and float(rate.group(1)) == 1073741824, described

        eventually(tool_sees_default, "ConfigCommand to see the default client's quota")
        listed = kfk_json("-b", bootstrap, "quota", "list", "--client-id", "<default>", "--json")
        assert listed == [{"entity": {"client-id": None},
                           "quotas": {"producer_byte_rate": 1073741824.0}}], listed
    finally:
        kfk_try("-b", bootstrap, "quota", "set", "--client-id", "<default>",
                "--remove", "producer_byte_rate")


# ------------------------------------------------------------------ replicas


def tool_partitions(bootstrap: str, topic: str) -> dict:
    """TopicCommand's describe of `topic`: partition -> {leader, replicas,
    isr, elr, last_known_elr} (tab-separated `Key: value` fields; the
    leader None when it prints `none`)."""
    described = kafka_tool("TopicCommand", "--bootstrap-server", bootstrap, "--describe",
                           "--topic", topic)
    return parse_tool_partitions(described)


def parse_tool_partitions(described: str) -> dict:
    def ids(v):
        return [int(x) for x in v.split(",") if x]

    out = {}
    for line in described.splitlines():
        fields = {}
        for part in line.strip().split("\t"):
            key, _, value = part.partition(":")
            fields[key.strip()] = value.strip()
        if "Partition" not in fields:
            continue
        out[int(fields["Partition"])] = {
            "leader": None if fields["Leader"] == "none" else int(fields["Leader"]),
            "replicas": ids(fields["Replicas"]),
            "isr": ids(fields["Isr"]),
            "elr": ids(fields.get("Elr", "")),
            "last_known_elr": ids(fields.get("LastKnownElr", "")),
        }
    return out


def rd_partitions(bootstrap: str, topic: str) -> dict:
    """librdkafka's DescribeTopics: partition -> (leader, replicas, isr)."""
    from confluent_kafka import TopicCollection

    t = done(admin(bootstrap).describe_topics(TopicCollection([topic])))[topic]
    return {
        p.id: (p.leader.id if p.leader is not None else None,
               [n.id for n in p.replicas], [n.id for n in p.isr])
        for p in t.partitions
    }


def kfk_partitions(bootstrap: str, topic: str) -> dict:
    """`kfk topic describe --json`: partition -> (leader, replicas, isr)."""
    t = kfk_json("-b", bootstrap, "topic", "describe", topic, "--json")
    return {p["partition"]: (p["leader"], p["replicas"], p["isr"]) for p in t["partitions"]}


def create_assigned(bootstrap: str, topic: str, assignment, config=None):
    """A topic with these replicas per partition (first: the preferred
    leader), created with librdkafka."""
    new = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment, config=config or {})
    done(admin(bootstrap).create_topics([new], operation_timeout=30))
    wait_until(lambda: (t := rd_topic(bootstrap, topic)) and len(t.partitions) == len(assignment)
               and all(p.leader >= 0 for p in t.partitions.values()), 30, f"{topic} to have leaders")


def reassign_tool(bootstrap: str, tmp_path, action: str, moves: dict, *flags: str) -> str:
    """Kafka's reassign tool, `--execute` or `--verify`, for `moves`:
    (topic, partition) -> replicas, with `flags`."""
    plan = tmp_path / f"reassign-{action}.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r} for (t, p), r in moves.items()
    ]}))
    return kafka_tool("reassign.ReassignPartitionsCommand", "--bootstrap-server", bootstrap,
                      "--reassignment-json-file", str(plan), action, *flags)


# What the reassign tool's --throttle sets: a rate per broker, and the
# throttled replicas per topic.
THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
THROTTLED_REPLICAS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


@pytest.mark.cap(90)
def test_partitions_reassigned_and_leaders_elected_both_ways(kafka_cluster, tmp_path):
    """kfk moves partition 0 from brokers 1,2 to 3,1 (3 the preferred
    leader; 1 keeps leading): Kafka's reassign tool verifies the move
    complete and librdkafka describes the new replicas; kfk's preferred
    election makes 3 the leader, as librdkafka and TopicCommand see.
    The reassign tool moves partition 1 from 2,1 to 3,2, throttled so
    that the move stays in progress: kfk sees the tool's throttle rates
    on every broker and lists the move (replicas 3,2,1, adding 3,
    removing 1) while the tool reports it in progress. kfk deletes the
    topic's throttled replicas, the move completes, and librdkafka's
    preferred election makes 3 lead: kfk lists no move left and
    describes the replicas and the leader."""
    from confluent_kafka import ElectionType

    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-move")
    create_assigned(bootstrap, topic, [[1, 2], [2, 1]])
    produce(bootstrap, topic, {0: 5, 1: 5})
    assert kfk_partitions(bootstrap, topic) == {0: (1, [1, 2], [1, 2]), 1: (2, [2, 1], [2, 1])}

    # kfk moves partition 0; the move completes once 3 has caught up.
    kfk("-b", bootstrap, "partitions", "reassign", topic, "-p", "0", "--replicas", "3,1")

    def moved(partition, leader, replicas):
        def check():
            assert not [r for r in kfk_json("-b", bootstrap, "partitions", "reassignments", "--json")
                        if r["topic"] == topic]
            leader_now, replicas_now, isr = kfk_partitions(bootstrap, topic)[partition]
            assert (leader_now, replicas_now, sorted(isr)) == (leader, replicas, sorted(replicas))
        eventually(check, f"the move of partition {partition} to complete")

    moved(0, 1, [3, 1])
    verified = reassign_tool(bootstrap, tmp_path, "--verify", {(topic, 0): [3, 1]}, "--preserve-throttles")
    assert f"Reassignment of partition {topic}-0 is completed" in verified, verified
    leader, replicas, isr = rd_partitions(bootstrap, topic)[0]
    assert (leader, replicas, sorted(isr)) == (1, [3, 1], [1, 3])

    # kfk elects the preferred leader: 3.
    elected = kfk_json("-b", bootstrap, "partitions", "elect", f"{topic}:0", "--json")
    assert elected == [{"topic": topic, "partition": 0, "error": None, "message": None}], elected

    def rd_sees_leader(partition, leader):
        def check():
            assert rd_partitions(bootstrap, topic)[partition][0] == leader
        eventually(check, f"librdkafka to see {leader} lead partition {partition}")

    rd_sees_leader(0, 3)
    theirs = tool_partitions(bootstrap, topic)[0]
    assert (theirs["leader"], theirs["replicas"]) == (3, [3, 1]), theirs

    # Kafka's reassign tool moves partition 1 (2 MB) throttled to 1 B/s:
    # the new replica gets one fetch (1 MB at most) and then nothing, so
    # the move stays in progress, and kfk lists it as the tool reports it.
    # kfk lifts the throttle and the move completes; librdkafka elects 3.
    big = Producer({"bootstrap.servers": bootstrap, "log_level": 3, "linger.ms": 50})
    for i in range(200):
        big.produce(topic, value=bytes([i % 256]) * 10_000, partition=1)
    assert big.flush(30) == 0
    try:
        started = reassign_tool(bootstrap, tmp_path, "--execute", {(topic, 1): [3, 2]}, "--throttle", "1")
        assert "Successfully started partition reassignment" in started, started

        def kfk_sees_throttle():
            for broker in ("1", "2", "3"):
                configs = kfk_configs(bootstrap, "broker", broker)
                assert {configs[name]["value"] for name in THROTTLE_RATES} == {"1"}, broker
        eventually(kfk_sees_throttle, "kfk to see the tool's throttle")
        moving = [r for r in kfk_json("-b", bootstrap, "partitions", "reassignments", "--json")
                  if r["topic"] == topic]
        assert moving == [{"topic": topic, "partition": 1, "replicas": [3, 2, 1], "adding": [3],
                           "removing": [1]}], moving
        verified = reassign_tool(bootstrap, tmp_path, "--verify", {(topic, 1): [3, 2]}, "--preserve-throttles")
        assert f"Reassignment of partition {topic}-1 is still in progress" in verified, verified
        kfk("-b", bootstrap, "config", "alter", "topic", topic,
            *(x for name in THROTTLED_REPLICAS for x in ("--delete", name)))
        moved(1, 2, [3, 2])
    finally:
        for broker in ("1", "2", "3"):
            kfk_try("-b", bootstrap, "config", "alter", "broker", broker,
                    *(x for name in THROTTLE_RATES for x in ("--delete", name)))
    for broker in ("1", "2", "3"):
        configs = kfk_configs(bootstrap, "broker", broker)
        # Listed only while set.
        assert not [name for name in THROTTLE_RATES if name in configs], (broker, configs)
    result = done(admin(bootstrap).elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 1)]))
    assert [(tp.partition, e) for tp, e in result.items()] == [(1, None)], result

    def kfk_sees_leader():
        leader, replicas, isr = kfk_partitions(bootstrap, topic)[1]
        assert (leader, replicas, sorted(isr)) == (3, [3, 2], [2, 3])

    eventually(kfk_sees_leader, "kfk to see 3 lead partition 1")
    # Electing again is no error to kfk: the preferred leader leads.
    again = kfk_json("-b", bootstrap, "partitions", "elect", topic, "--json")
    assert {(o["partition"], o["error"]) for o in again} == {
        (0, "ELECTION_NOT_NEEDED"), (1, "ELECTION_NOT_NEEDED")}, again


@pytest.mark.cap(60)
def test_log_dirs_as_kafka_log_dirs_tool_describes_them(kafka_cluster):
    """`kfk logdirs describe -t T` and Kafka's log-dirs tool: the same
    directory on each broker, the same replicas in it, of the same size,
    offset lag and future flag, once the followers have caught up."""
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-logdirs")
    kfk("-b", bootstrap, "topic", "create", topic, "--partitions", "2", "--replication-factor", "2")
    produce(bootstrap, topic, {0: 20, 1: 7})

    def ours():
        described = kfk_json("-b", bootstrap, "logdirs", "describe", "-t", topic, "--json")
        assert all(b["error"] is None for b in described), described
        return {
            (b["broker"], d["path"], f"{r['topic']}-{r['partition']}"): (r["size"], r["offset_lag"], r["future"])
            for b in described for d in b["dirs"] for r in d["replicas"]
        }

    def caught_up():
        # Nothing is produced from here on: once both replicas of each
        # partition hold the same bytes, the sizes stay put.
        replicas = ours()
        assert len(replicas) == 4, replicas
        for p in (0, 1):
            sizes = {v[0] for k, v in replicas.items() if k[2] == f"{topic}-{p}"}
            assert len(sizes) == 1 and sizes != {0}, replicas
        return replicas

    mine = eventually(caught_up, "both replicas of each partition to hold every record")
    out = kafka_tool("LogDirsCommand", "--bootstrap-server", bootstrap, "--describe",
                     "--topic-list", topic)
    # Two lines of progress, then one JSON object.
    described = json.loads(out.strip().splitlines()[-1])
    theirs = {
        (b["broker"], d["logDir"], p["partition"]): (p["size"], p["offsetLag"], p["isFuture"])
        for b in described["brokers"] for d in b["logDirs"] for p in d["partitions"]
    }
    assert mine == theirs
    assert {b["broker"] for b in described["brokers"]} == {1, 2, 3}
    assert all(d["error"] is None for b in described["brokers"] for d in b["logDirs"])


def parse_tool_table(out: str) -> list:
    """A table of Kafka's TransactionsCommand (tab-separated columns under
    a header): one dict per row."""
    lines = [line for line in out.splitlines() if "\t" in line]
    header = [h.strip() for h in lines[0].split("\t")]
    return [dict(zip(header, (v.strip() for v in line.split("\t")))) for line in lines[1:]]


def transactions_tool(bootstrap: str, *args: str) -> list:
    return parse_tool_table(kafka_tool("TransactionsCommand", "--bootstrap-server", bootstrap, *args))


@pytest.mark.cap(60)
def test_producers_described_as_kafka_transactions_tool_does(kafka_cluster):
    """An idempotent and a transactional librdkafka producer write (the
    transaction left open): `kfk producers describe` shows, per
    partition, the producer ids, epochs, last sequences, coordinator
    epochs, last timestamps and open transactions' first offsets that
    Kafka's `describe-producers` shows."""
    bootstrap = kafka_cluster["bootstrap"]
    topic = unique("adm-prod")
    create_topic(bootstrap, topic, 2)
    idempotent = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 3})
    for p, n in ((0, 5), (1, 3)):
        for i in range(n):
            idempotent.produce(topic, value=f"i{i}".encode(), partition=p)
    assert idempotent.flush(30) == 0
    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("adm-prod-tx"),
                    "log_level": 3})
    txn.init_transactions(FUTURE_TIMEOUT)
    txn.begin_transaction()
    for i in range(2):
        txn.produce(topic, value=f"t{i}".encode(), partition=0)
    assert txn.flush(30) == 0
    try:
        ours = {
            d["partition"]: {
                (s["producer_id"], s["producer_epoch"], s["last_sequence"], s["coordinator_epoch"],
                 s["last_timestamp"], s["current_txn_start_offset"])
                for s in d["producers"]
            }
            for d in kfk_json("-b", bootstrap, "producers", "describe", topic, "--json")
        }

        def theirs(partition):
            rows = transactions_tool(bootstrap, "describe-producers", "--topic", topic,
                                     "--partition", str(partition))
            return {
                (int(r["ProducerId"]), int(r["ProducerEpoch"]), int(r["LastSequence"]),
                 int(r["LatestCoordinatorEpoch"]), int(r["LastTimestamp"]),
                 None if r["CurrentTransactionStartOffset"] == "None" else int(r["CurrentTransactionStartOffset"]))
                for r in rows
            }

        assert ours[0] == theirs(0) and ours[1] == theirs(1), ours
        # Partition 0: the idempotent producer (sequences 0..4, no
        # transaction) and the transactional one, open from offset 5.
        assert sorted((s[2], s[5]) for s in ours[0]) == [(1, 5), (4, None)], ours
        assert [(s[2], s[5]) for s in ours[1]] == [(2, None)], ours
    finally:
        txn.abort_transaction(FUTURE_TIMEOUT)


@pytest.mark.cap(60)
def test_transactions_listed_and_described_as_kafka_transactions_tool_does(kafka_cluster):
    """A librdkafka transaction open on two partitions: `kfk txn list`
    and `kfk txn describe` agree with Kafka's transactions tool (state
    Ongoing, producer id and epoch, coordinator, timeout, start time,
    partitions); once committed, both see CompleteCommit and no
    partitions."""
    bootstrap = kafka_cluster["bootstrap"]
    topic, tx_id = unique("adm-txn"), unique("adm-txn-id")
    create_topic(bootstrap, topic, 2)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tx_id,
                  "transaction.timeout.ms": 45000, "log_level": 3})
    p.init_transactions(FUTURE_TIMEOUT)
    p.begin_transaction()
    p.produce(topic, value=b"a", partition=0)
    p.produce(topic, value=b"b", partition=1)
    assert p.flush(30) == 0
    committed = False
    try:
        listed = [t for t in kfk_json("-b", bootstrap, "txn", "list", "--json")["transactions"]
                  if t["transactional_id"] == tx_id]
        assert [t["state"] for t in listed] == ["Ongoing"], listed
        theirs = [r for r in transactions_tool(bootstrap, "list") if r["TransactionalId"] == tx_id]
        assert [(int(r["ProducerId"]), r["TransactionState"], int(r["Coordinator"])) for r in theirs] == [
            (t["producer_id"], t["state"], t["coordinator"]) for t in listed], (theirs, listed)

        def described():
            ours = kfk_json("-b", bootstrap, "txn", "describe", tx_id, "--json")
            [row] = transactions_tool(bootstrap, "describe", "--transactional-id", tx_id)
            partitions = {f"{x['topic']}-{x['partition']}" for x in ours["partitions"]}
            # The tool prints -1 for no start time; kfk's JSON has null.
            start = int(row["CurrentTransactionStartTimeMs"])
            assert (ours["state"], ours["producer_id"], ours["producer_epoch"], ours["timeout_ms"],
                    ours["start_time_ms"], partitions) == (
                row["TransactionState"], int(row["ProducerId"]), int(row["ProducerEpoch"]),
                int(row["TransactionTimeoutMs"]), start if start >= 0 else None,
                set(filter(None, row["TopicPartitions"].split(",")))), (ours, row)
            assert int(row["CoordinatorId"]) == listed[0]["coordinator"]
            return ours

        ours = described()
        assert ours["state"] == "Ongoing" and ours["timeout_ms"] == 45000
        assert {(x["topic"], x["partition"]) for x in ours["partitions"]} == {(topic, 0), (topic, 1)}

        p.commit_transaction(FUTURE_TIMEOUT)
        committed = True

        def complete():
            d = described()
            assert d["state"] == "CompleteCommit", d
            return d
        ours = eventually(complete, "both to see the transaction committed")
        assert ours["partitions"] == []
        listed = kfk_json("-b", bootstrap, "txn", "list", "--state", "CompleteCommit", "--json")
        assert tx_id in {t["transactional_id"] for t in listed["transactions"]}
    finally:
        if not committed:
            p.abort_transaction(FUTURE_TIMEOUT)


# ------------------------------------------------------------------ features


# A feature Kafka 4.4 finalizes at 1 by default and lets go both ways
# (0 turns streams groups off), and that no test of this suite uses.
FEATURE = "streams.version"


def kfk_features(bootstrap: str) -> dict:
    """`kfk cluster features --json`: name -> (supported min, supported
    max, finalized level, 0 where none is finalized)."""
    f = kfk_json("-b", bootstrap, "cluster", "features", "--json")
    finalized = {x["name"]: x["max"] for x in f["finalized"]}
    return {s["name"]: (s["min"], s["max"], finalized.get(s["name"], 0)) for s in f["supported"]}


def tool_features(bootstrap: str) -> dict:
    """Kafka's `kafka-features describe`: name -> (supported min,
    supported max, finalized level) as it prints them (metadata.version
    as release names, 0 where none is finalized)."""
    out = kafka_tool("FeatureCommand", "--bootstrap-server", bootstrap, "describe")
    found = re.findall(r"Feature:\s*(\S+)\s+SupportedMinVersion:\s*(\S+)\s+SupportedMaxVersion:\s*(\S+)"
                       r"\s+FinalizedVersionLevel:\s*(\S+)", out)
    assert found, out
    return {f[0]: f[1:] for f in found}


@pytest.mark.cap(90)
def test_features_as_kafka_features_tool_describes_and_changes_them(kafka_cluster):
    """`kfk cluster features` lists the features, supported ranges and
    finalized levels `kafka-features describe` does (metadata.version's
    release names mapped to levels with `version-mapping`). kfk moves
    streams.version to the other level (applied, not validate-only) and
    Kafka's tool sees it; the tool moves it back and kfk sees that. The
    level is restored in the end whatever happens."""
    bootstrap = kafka_cluster["bootstrap"]
    ours, theirs = kfk_features(bootstrap), tool_features(bootstrap)
    assert set(ours) == set(theirs), (ours, theirs)
    releases = {}
    for release in set(theirs["metadata.version"]):
        mapped = kafka_tool("FeatureCommand", "--bootstrap-server", bootstrap, "version-mapping",
                            "--release-version", release)
        releases[release] = int(re.search(r"^metadata\.version=(\d+)", mapped, re.M).group(1))
    for name, levels in theirs.items():
        as_level = releases.__getitem__ if name == "metadata.version" else int
        assert ours[name] == tuple(as_level(v) for v in levels), (name, ours[name], levels)

    low, high, original = ours[FEATURE]
    other = original - 1 if original > low else original + 1
    assert low <= other <= high, ours[FEATURE]
    down = other < original
    try:
        kfk("-b", bootstrap, "cluster", "features", "--downgrade" if down else "--upgrade",
            f"{FEATURE}={other}")

        def tool_sees():
            assert tool_features(bootstrap)[FEATURE][2] == str(other)
        eventually(tool_sees, f"kafka-features to see {FEATURE}={other}")

        kafka_tool("FeatureCommand", "--bootstrap-server", bootstrap, "upgrade" if down else "downgrade",
                   "--feature", f"{FEATURE}={original}")

        def kfk_sees():
            assert kfk_features(bootstrap)[FEATURE][2] == original
        eventually(kfk_sees, f"kfk to see {FEATURE}={original}")
    finally:
        if kfk_features(bootstrap)[FEATURE][2] != original:
            kfk_try("-b", bootstrap, "cluster", "features", "--upgrade" if down else "--downgrade",
                    f"{FEATURE}={original}")


# ------------------------------------------------------------------ unclean election


def every_partition_in_sync(bootstrap: str) -> bool:
    """Whether every partition the metadata lists has a leader and all
    its replicas in sync."""
    run = kfk_try("-b", bootstrap, "metadata", "--json")
    if run.returncode != 0:
        return False
    return all(
        p["leader"] is not None and sorted(p["isr"]) == sorted(p["replicas"])
        for t in json.loads(run.stdout)["topics"] for p in t["partitions"]
    )


@pytest.mark.cap(150)
def test_unclean_election_elects_an_out_of_sync_replica(kafka_cluster):
    """Unclean leader election on Kafka, by kfk (partition 0) and by
    librdkafka (partition 1), on the session's cluster (restored whole).

    A topic on brokers 1 and 2 (1 the leader) with
    unclean.leader.election.enable=false. Broker 2 stops (a controlled
    shutdown: it leaves the ISR at once); five records per partition go
    to 1 alone; 1 stops. What Kafka 4.4 does, with Eligible Leader
    Replicas (KIP-966, eligible.leader.replicas.version=1, the default):
    the ISR empties and 1, the last replica in sync, becomes the only
    eligible leader replica (TopicCommand: `Isr:` empty, `Elr: 1`,
    `LastKnownElr: 1`). Broker 2 comes back and is not elected: no
    leader. An unclean election (kfk's `--unclean`, librdkafka's
    ElectionType.UNCLEAN) makes 2 the leader with ISR [2] and the ELR
    cleared, as librdkafka, kfk and TopicCommand see; the five records
    only 1 had are gone (the log ends at 1). Broker 1 comes back, takes
    2's log and rejoins the ISR under 2."""
    from confluent_kafka import ElectionType

    bootstrap, control = kafka_cluster["bootstrap"], kafka_cluster["control"]
    topic = unique("adm-unclean")
    create_assigned(bootstrap, topic, [[1, 2], [1, 2]],
                    {"unclean.leader.election.enable": "false", "min.insync.replicas": "1"})
    produce(bootstrap, topic, {0: 1, 1: 1})

    def partitions_are(expected, who=kfk_partitions):
        def check():
            got = {p: (leader, replicas, sorted(isr)) for p, (leader, replicas, isr) in who(bootstrap, topic).items()}
            assert got == expected, got
        eventually(check, f"{who.__name__} to see {expected}")

    def ends():
        return {o["partition"]: o["latest"] for o in kfk_json("-b", bootstrap, "offsets", "-t", topic, "--json")}

    partitions_are({0: (1, [1, 2], [1, 2]), 1: (1, [1, 2], [1, 2])})
    try:
        control("stop 2")
        partitions_are({0: (1, [1, 2], [1]), 1: (1, [1, 2], [1])})
        produce(bootstrap, topic, {0: 5, 1: 5})
        assert ends() == {0: 6, 1: 6}
        control("stop 1")
        partitions_are({0: (None, [1, 2], []), 1: (None, [1, 2], [])})

        # TopicCommand describes the offline partitions while 2 starts.
        describing = subprocess.Popen(
            [jdk_tool("java"), "-Xmx256m", "-cp", f"{kafka_home()}/libs/*",
             "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, "--describe",
             "--topic", topic],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            control("start 2")
            out, err = describing.communicate(timeout=60)
        finally:
            describing.kill()
            describing.wait()
        assert describing.returncode == 0, err.decode(errors="replace")[-3000:]
        offline = parse_tool_partitions(out.decode())
        for p in (0, 1):
            assert offline[p] == {"leader": None, "replicas": [1, 2], "isr": [], "elr": [1],
                                  "last_known_elr": [1]}, offline
        # 2 is up and has not been elected.
        partitions_are({0: (None, [1, 2], []), 1: (None, [1, 2], [])})

        elected = kfk_json("-b", bootstrap, "partitions", "elect", "--unclean", f"{topic}:0", "--json")
        assert elected == [{"topic": topic, "partition": 0, "error": None, "message": None}], elected
        result = done(admin(bootstrap).elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 1)]))
        assert [(tp.partition, e) for tp, e in result.items()] == [(1, None)], result
        partitions_are({0: (2, [1, 2], [2]), 1: (2, [1, 2], [2])}, who=rd_partitions)
        partitions_are({0: (2, [1, 2], [2]), 1: (2, [1, 2], [2])})
        theirs = tool_partitions(bootstrap, topic)
        assert theirs[0] == theirs[1] == {"leader": 2, "replicas": [1, 2], "isr": [2], "elr": [],
                                          "last_known_elr": []}, theirs
        assert ends() == {0: 1, 1: 1}

        control("restart 1")
        partitions_are({0: (2, [1, 2], [1, 2]), 1: (2, [1, 2], [1, 2])})
        assert ends() == {0: 1, 1: 1}
    finally:
        # Whatever failed: both nodes up again ("start" leaves a running
        # node alone), every partition of the cluster led and in sync.
        control("start 2")
        control("start 1")
        wait_until(lambda: every_partition_in_sync(bootstrap), 60,
                   "every partition to be led and in sync again", interval=0.5)


# ------------------------------------------------------------------ ACLs


def rd_acls(bootstrap: str, principal: str) -> set:
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    return {
        (b.restype.name, b.name, b.resource_pattern_type.name, b.principal, b.host,
         b.operation.name, b.permission_type.name)
        for b in done(admin(bootstrap).describe_acls(f))
    }


def kfk_acls(bootstrap: str, *flags: str) -> set:
    return {
        (a["resource_type"], a["resource_name"], a["pattern_type"], a["principal"], a["host"],
         a["operation"], a["permission"])
        for a in kfk_json("-b", bootstrap, "acl", "list", *flags, "--json")
    }


def rd_can_describe(sasl: str, user: str, password: str, topic: str) -> bool:
    """Whether `user` (SCRAM-SHA-256) sees `topic` in librdkafka's
    metadata: without DESCRIBE on it, the broker answers
    TOPIC_AUTHORIZATION_FAILED."""
    client = AdminClient({
        "bootstrap.servers": sasl, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": password,
        "log_level": 0,
    })
    t = client.list_topics(topic=topic, timeout=10).topics[topic]
    if t.error is None:
        return True
    assert t.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, t.error
    return False


@pytest.mark.cap(150)
def test_acls_both_ways_and_with_kafka_acl_command(kafka_acl_cluster, request):
    """On the authorizer cluster: over PLAINTEXT every client is a super
    user; a SCRAM user kfk adds is bound by the ACLs on the SASL listener."""
    bootstrap, sasl = kafka_acl_cluster["bootstrap"], kafka_acl_cluster["sasl_plaintext"]
    # That cluster stops with this module: drop the cached client first.
    request.addfinalizer(lambda: _ADMINS.pop(bootstrap, None))
    topic = unique("adm-acl")
    bob, bob_password = unique("bob"), "bob-secret"
    carol = f"User:{unique('carol')}"
    create_topic(bootstrap, topic, 1)
    env = {**os.environ, "KFK_SCRAM_PASSWORD": bob_password}
    assert kfk_try("-b", bootstrap, "user", "set-scram", "--user", bob, env=env).returncode == 0
    wait_until(lambda: rd_login(sasl, "SCRAM-SHA-256", bob, bob_password), 30,
               "bob to log in", interval=0.5)
    assert not rd_can_describe(sasl, bob, bob_password, topic)

    # kfk adds an ACL: librdkafka describes it, and bob gains the right.
    kfk("-b", bootstrap, "acl", "add", "--resource-type", "topic", "--resource-name", topic,
        "--principal", f"User:{bob}", "--operation", "describe")
    ours = ("TOPIC", topic, "LITERAL", f"User:{bob}", "*", "DESCRIBE", "ALLOW")
    wait_until(lambda: rd_acls(bootstrap, f"User:{bob}") == {ours}, 30, "librdkafka to see kfk's ACL")
    wait_until(lambda: rd_can_describe(sasl, bob, bob_password, topic), 30,
               "bob to describe the topic", interval=0.5)

    # librdkafka adds a prefixed deny: kfk lists it, by principal and by
    # a MATCH on a name under the prefix.
    prefix = unique("adm-pfx")
    theirs = AclBinding(ResourceType.TOPIC, prefix, ResourcePatternType.PREFIXED, carol, "10.0.0.1",
                        AclOperation.WRITE, AclPermissionType.DENY)
    done(admin(bootstrap).create_acls([theirs]))
    theirs_row = ("TOPIC", prefix, "PREFIXED", carol, "10.0.0.1", "WRITE", "DENY")
    wait_until(lambda: kfk_acls(bootstrap, "--principal", carol) == {theirs_row}, 30,
               "kfk to see librdkafka's ACL", interval=0.3)
    assert kfk_acls(bootstrap, "--resource-type", "topic", "--resource-name", f"{prefix}-x",
                    "--pattern", "match") == {theirs_row}

    # Kafka's AclCommand lists kfk's ACL, and kfk lists the one it adds.
    def tool_lists():
        listed = kafka_tool("AclCommand", "--bootstrap-server", bootstrap, "--list", "--topic", topic)
        assert re.search(rf"principal=User:{bob}, host=\*, operation=DESCRIBE, permissionType=ALLOW",
                         listed), listed

    eventually(tool_lists, "AclCommand to list kfk's ACL")
    kafka_tool("AclCommand", "--bootstrap-server", bootstrap, "--add", "--allow-principal", carol,
               "--operation", "Read", "--group", prefix, "--resource-pattern-type", "prefixed")
    tool_row = ("GROUP", prefix, "PREFIXED", carol, "*", "READ", "ALLOW")
    wait_until(lambda: kfk_acls(bootstrap, "--principal", carol) == {theirs_row, tool_row}, 30,
               "kfk to see AclCommand's ACL", interval=0.3)

    # kfk adds a cluster ACL (named kafka-cluster unless told) and a
    # prefixed one from one host: librdkafka describes both as given.
    dave = f"User:{unique('dave')}"
    kfk("-b", bootstrap, "acl", "add", "--resource-type", "cluster", "--principal", dave,
        "--operation", "describe_configs")
    kfk("-b", bootstrap, "acl", "add", "--resource-type", "transactional_id", "--resource-name", prefix,
        "--pattern", "prefixed", "--principal", dave, "--host", "10.0.0.2", "--operation", "write",
        "--permission", "deny")
    wait_until(lambda: rd_acls(bootstrap, dave) == {
        ("BROKER", "kafka-cluster", "LITERAL", dave, "*", "DESCRIBE_CONFIGS", "ALLOW"),
        ("TRANSACTIONAL_ID", prefix, "PREFIXED", dave, "10.0.0.2", "WRITE", "DENY"),
    }, 30, "librdkafka to see kfk's cluster and prefixed ACLs")
    removed = kfk_json("-b", bootstrap, "acl", "remove", "--principal", dave, "--resource-type", "cluster",
                       "--json")
    assert [(r["resource_type"], r["resource_name"]) for r in removed] == [("CLUSTER", "kafka-cluster")]
    wait_until(lambda: {a[0] for a in rd_acls(bootstrap, dave)} == {"TRANSACTIONAL_ID"}, 30,
               "librdkafka to see the cluster ACL gone")
    kfk("-b", bootstrap, "acl", "remove", "--principal", dave)

    # kfk removes bob's ACL: librdkafka sees none, and bob loses the right.
    removed = kfk_json("-b", bootstrap, "acl", "remove", "--principal", f"User:{bob}", "--json")
    assert len(removed) == 1 and removed[0]["operation"] == "DESCRIBE", removed
    wait_until(lambda: rd_acls(bootstrap, f"User:{bob}") == set(), 30, "librdkafka to see no ACL")
    wait_until(lambda: not rd_can_describe(sasl, bob, bob_password, topic), 30,
               "bob to lose the right", interval=0.5)

    # librdkafka removes carol's: kfk lists none.
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, carol, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    deleted = done(admin(bootstrap).delete_acls([f]))
    assert len(deleted[f]) == 2
    wait_until(lambda: kfk_acls(bootstrap, "--principal", carol) == set(), 30,
               "kfk to see carol's ACLs gone", interval=0.3)
