#!/usr/bin/env bash
# Interop suite: real Kafka clients (librdkafka through confluent-kafka,
# and kafka-python) against the kafka-mock binary, and against our own
# client (the kfk tool) on real brokers (Tansu; Apache Kafka with the Java
# client as the peer). Installs the pinned
# Python clients, builds the mock, runs `interop/` with pytest. Exits
# non-zero if anything fails. Extra arguments go to pytest (e.g. -k codec).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
cargo build -p kafka-mock -p kafka-cli -p kafka-testkit --bins
export KAFKA_MOCK_BIN="${KAFKA_MOCK_BIN:-$PWD/target/debug/kafka-mock}"
export KFK_BIN="${KFK_BIN:-$PWD/target/debug/kfk}"
export KAFKA_CLUSTER_BIN="${KAFKA_CLUSTER_BIN:-$PWD/target/debug/kafka-cluster}"
# The Java peer's tests run on Apache Kafka; test-all.sh exports KAFKA_HOME.
if [ -z "${KAFKA_HOME:-}" ]; then
    KAFKA_HOME="$(./scripts/install-kafka.sh)"
    export KAFKA_HOME
fi
# The kfk tests run on Tansu; test-all.sh exports TANSU_BIN.
if [ -z "${TANSU_BIN:-}" ]; then
    TANSU_BIN="$(./scripts/install-tansu.sh)"
    export TANSU_BIN
fi
exec python3 -m pytest interop -q -p no:cacheprovider "$@"
