#!/usr/bin/env bash
# Interop suite: real Kafka clients (librdkafka through confluent-kafka,
# and kafka-python) against the kafka-mock binary. Installs the pinned
# Python clients, builds the mock, runs `interop/` with pytest. Exits
# non-zero if anything fails. Extra arguments go to pytest (e.g. -k codec).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
cargo build -p kafka-mock
export KAFKA_MOCK_BIN="${KAFKA_MOCK_BIN:-$PWD/target/debug/kafka-mock}"
exec python3 -m pytest interop -q -p no:cacheprovider "$@"
