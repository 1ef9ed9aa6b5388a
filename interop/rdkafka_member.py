"""librdkafka (confluent-kafka) as a consumer group member in a process
of its own, so a test can SIGKILL it. It speaks the line protocol of the
Java peer's `group` command and the blocking client's `group_member`
example: one JSON object per line on stdout,

    {"event": "assigned"|"revoked"|"lost", "partitions": [N..], "ts": MS}
    {"event": "record", "partition": N, "offset": N, "value": "v", "ts": MS}

until stdin closes; then it commits what it read and leaves.

    python3 rdkafka_member.py BOOTSTRAP TOPIC GROUP [ASSIGNOR] [SESSION_MS] [PROTOCOL]

PROTOCOL is classic (the default) or consumer (KIP-848). Under consumer
the broker assigns (ASSIGNOR names its assignor, uniform or range; "-"
lets it choose) and owns the session timeout and heartbeat interval:
librdkafka refuses `session.timeout.ms`, `heartbeat.interval.ms` and
`partition.assignment.strategy` then, so SESSION_MS is ignored.
"""

import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException


def emit(obj):
    obj["ts"] = int(time.time() * 1000)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    bootstrap, topic, group = sys.argv[1:4]
    assignor = sys.argv[4] if len(sys.argv) > 4 else "range"
    session_ms = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
    protocol = sys.argv[6] if len(sys.argv) > 6 else "classic"
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "log_level": 3,
    }
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
        if assignor != "-":
            conf["group.remote.assignor"] = assignor
    else:
        assert protocol == "classic", protocol
        conf.update({
            "partition.assignment.strategy": assignor,
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": max(session_ms // 10, 100),
        })
    consumer = Consumer(conf)

    def changed(kind):
        def report(_consumer, partitions):
            emit({"event": kind, "partitions": sorted(tp.partition for tp in partitions)})
        return report

    consumer.subscribe(
        [topic], on_assign=changed("assigned"), on_revoke=changed("revoked"), on_lost=changed("lost")
    )
    done = threading.Event()

    def wait_for_eof():
        sys.stdin.buffer.read()
        done.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    while not done.is_set():
        m = consumer.poll(0.1)
        if m is None:
            continue
        if m.error():
            print(f"rdkafka_member: {m.error()}", file=sys.stderr)
            continue
        emit({"event": "record", "partition": m.partition(), "offset": m.offset(),
              "value": m.value().decode()})
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:
        # Nothing read since the last assignment: nothing to commit.
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise
    consumer.close()


if __name__ == "__main__":
    main()
