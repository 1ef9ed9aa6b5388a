#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh machine: installs
# what it needs (Rust components, cargo-fuzz, the Python client libraries,
# Apache Kafka from Maven Central),
# then formatting, generated-code freshness, clippy, docs, the test suites,
# a no-default-features build, the mock against librdkafka and kafka-python,
# benchmarks in test mode, and a replay of the fuzz corpus.
# `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== [%s s] %s\n' "$SECONDS" "$*"; }

# A fresh CI machine's disk can be small. With full debug info the test
# binaries took 15 GB, and one run died in the linker when the disk filled.
# Line tables keep panics' backtraces readable at a fraction of the size,
# and incremental state is useless on a one-shot build.
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
disk() { df -h . | tail -1 | awk '{print "disk: " $4 " free of " $2}'; }
disk

step "toolchain components"
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
cargo --version

step "system packages (socat: the TLS front for the broker in the TLS tests; Java and Maven: Apache Kafka)"
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
# A JDK, not a JRE: the Java peer of the interop suite is compiled at test time.
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

step "format"
cargo fmt --all -- --check

step "Apache Kafka from Maven Central, the 3-node cluster of the integration tests and the newest message schemas"
KAFKA_HOME="$(./scripts/install-kafka.sh)"
export KAFKA_HOME KAFKA_REQUIRE_KAFKA=1

# The schemas are not part of the repository. The older releases sit
# beside it, as they do in CI and on developer machines; the newest is the
# pinned broker's own, inside the kafka-clients jar of the Maven install
# (installed by the step above).
schemas="${KAFKA_SCHEMAS:-../shared/kafka-schemas}"
if [ ! -d "$schemas" ]; then
    step "schemas not found at $schemas: skipping the generated-code check"
elif ! ls target/kafka/libs/kafka-clients-*.jar >/dev/null 2>&1; then
    echo "no target/kafka/libs/kafka-clients-*.jar for the generated-code check:" \
        "./scripts/install-kafka.sh did not install it" >&2
    exit 1
else
    newest="$(./scripts/kafka-schemas.sh)"
    step "generated messages are up to date with $schemas and $newest"
    KAFKA_SCHEMAS="$schemas:$newest" cargo run -q -p kafka-proto-codegen -- --check
fi

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "kafka-proto without default features (no codecs)"
cargo build -q -p kafka-proto --no-default-features

step "Tansu, the real broker for the adapters' integration tests"
TANSU_BIN="$(./scripts/install-tansu.sh)"
export TANSU_BIN KAFKA_REQUIRE_TANSU=1

step "tests"
cargo test --workspace
disk

# The adapters turn kafka-state's `tls` feature on, so the workspace runs
# above had it; check the core also builds without it.
step "kafka-state without its optional TLS layer"
cargo build -q -p kafka-state

step "interop: kafka-mock and kfk against librdkafka (confluent-kafka), kafka-python and the Java client"
./scripts/interop.sh
disk

step "benchmarks, once each in test mode"
# Run by `cargo test`, criterion runs each benchmark once as a test. Built
# with the test profile, they reuse what the test suites compiled: the
# optimised bench build took 3.5 minutes of a CI run for the same check.
# Only kafka-proto has criterion benches.
cargo test -p kafka-proto --benches

disk
if [ -x fuzz/replay.sh ]; then
    # The workspace's own build is not used past this point, and the
    # sanitised fuzz build needs about 1.5 GB more. One CI run whose disk had
    # filled with the test binaries died in the linker here (SIGBUS in ld).
    # On CI, or whenever less than 12 GiB is left, make room first.
    avail_kib="$(df --output=avail -k . | tail -1 | tr -d ' ')"
    if [ -n "${CI:-}" ] || [ "$avail_kib" -lt $((12 * 1024 * 1024)) ]; then
        step "removing target/debug and target/release to make room for the fuzz build"
        rm -rf target/debug target/release
        disk
    fi
    step "fuzz targets: build and replay the corpus"
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        cargo install --locked cargo-fuzz
    fi
    fuzz/replay.sh
fi

disk
step "all checks passed"
