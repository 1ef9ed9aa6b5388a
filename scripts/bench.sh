#!/usr/bin/env bash
# Benchmarks our clients against librdkafka, franz-go and the Java client on a fresh broker per scenario
# (Tansu; Apache Kafka for the rebalance and transaction ones; a three-node Apache Kafka cluster for all
# with --kafka RF) and writes the table to bench/results.md (bench/results-quick.md with --quick,
# bench/results-kafka-rfRF.md with --kafka RF).
#
#   scripts/bench.sh [--quick] [--kafka RF] [other kafka-bench arguments]
#
# Needs cmake and libcurl headers (the rdkafka crate builds its bundled
# librdkafka with cmake, and that source includes curl/curl.h even with
# curl off); installed with apt-get when missing. The bench crate is its
# own workspace (bench/), so the normal build never needs them.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
[ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -e /usr/include/curl/curl.h ] \
    || need+=(libcurl4-openssl-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
fi

./scripts/install-tansu.sh >/dev/null
# The rebalance and transaction scenarios run on Apache Kafka (its group
# and transaction coordinators); the installer needs Java 17+ and Maven.
# Its jars also give the Java peer its kafka-clients.
kafka_home=$(./scripts/install-kafka.sh)

# The peers of other languages, each left out (with a note) when its
# toolchain is missing. franz-go: bench/franz, its own Go module (needs Go
# 1.26; GOTOOLCHAIN=go1.27.3 is the approved fallback for an older go).
mkdir -p bench/target
if command -v go >/dev/null; then
    if (cd bench/franz && go build -o ../target/franz-bench .); then
        export KAFKA_BENCH_FRANZ="$PWD/bench/target/franz-bench"
    else
        echo "franz-go peer: go build failed (it needs Go 1.26; with an older go, GOTOOLCHAIN=go1.27.3 $0 ...), left out" >&2
    fi
else
    echo "franz-go peer: no go on PATH, left out" >&2
fi
# Java: bench/java/JavaBench.java against the kafka-clients jar of the
# Kafka install.
javac="${JAVA_HOME:+$JAVA_HOME/bin/}javac"
if command -v "$javac" >/dev/null && [ -d "$kafka_home/libs" ]; then
    rm -rf bench/target/java
    if "$javac" -nowarn -cp "$kafka_home/libs/*" -d bench/target/java bench/java/JavaBench.java; then
        export KAFKA_BENCH_JAVA_CP="$PWD/bench/target/java:$kafka_home/libs/*"
    else
        echo "java peer: javac failed, left out" >&2
    fi
else
    echo "java peer: no javac or no $kafka_home/libs, left out" >&2
fi

# --kafka RF runs every scenario on a three-node Apache Kafka cluster: its
# table goes to bench/results-kafka-rfRF.md (with --quick, -quick.md).
results=bench/results
rf=
prev=
for a in "$@"; do
    if [ "$prev" = --kafka ]; then rf=$a; fi
    prev=$a
done
if [ -n "$rf" ]; then results=$results-kafka-rf$rf; fi
for a in "$@"; do
    if [ "$a" = --quick ]; then results=$results-quick; fi
done
results=$results.md

start=$(date +%s)
timeout 1800 cargo build --release --manifest-path bench/Cargo.toml
built=$(date +%s)
echo "bench crate built in $((built - start)) s" >&2

# The full run is bounded by the bench itself (each client run at most
# 270 s); this outer limit is a last resort.
# A failed client run is listed in the table and fails the run, after
# the table is written.
status=0
out=$(timeout 3600 bench/target/release/kafka-bench "$@") || status=$?
done_at=$(date +%s)
{
    echo "<!-- kafka-bench $*: built in $((built - start)) s, ran in $((done_at - built)) s, $(date -u +%Y-%m-%dT%H:%MZ) -->"
    echo
    echo "$out"
} > "$results"
echo "$out"
echo "wrote $results (run took $((done_at - built)) s)" >&2
exit $status
