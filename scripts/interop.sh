#!/usr/bin/env bash
# Interop suite: real Kafka clients (librdkafka through confluent-kafka,
# and kafka-python) against the kafka-mock binary; and our own client (the
# kfk tool) against librdkafka, kafka-python and the Java client on a
# 3-node Apache Kafka cluster (one per session), with one cheap check on
# Tansu. Installs the pinned Python clients and the broker, builds the
# binaries, runs `interop/` with pytest. Exits non-zero if anything fails.
# Extra arguments go to pytest (e.g. -k codec).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
cargo build -p kafka-mock -p kafka-cli -p kafka-testkit --bins
# The blocking client's group member, beside librdkafka's and Java's.
cargo build -p kafka-blocking --example group_member
export KAFKA_MOCK_BIN="${KAFKA_MOCK_BIN:-$PWD/target/debug/kafka-mock}"
export KFK_BIN="${KFK_BIN:-$PWD/target/debug/kfk}"
export KAFKA_CLUSTER_BIN="${KAFKA_CLUSTER_BIN:-$PWD/target/debug/kafka-cluster}"
export GROUP_MEMBER_BIN="${GROUP_MEMBER_BIN:-$PWD/target/debug/examples/group_member}"
# The kfk tests run on Apache Kafka; test-all.sh exports KAFKA_HOME.
if [ -z "${KAFKA_HOME:-}" ]; then
    KAFKA_HOME="$(./scripts/install-kafka.sh)"
    export KAFKA_HOME
fi
# One kfk test runs on Tansu too; test-all.sh exports TANSU_BIN.
if [ -z "${TANSU_BIN:-}" ]; then
    TANSU_BIN="$(./scripts/install-tansu.sh)"
    export TANSU_BIN
fi
exec python3 -m pytest interop -q -p no:cacheprovider "$@"
