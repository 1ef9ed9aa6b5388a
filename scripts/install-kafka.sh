#!/usr/bin/env bash
# Assembles Apache Kafka (the broker, its tools and a logging binding) from
# Maven Central into target/kafka/libs/, from kafka-testkit/kafka/pom.xml,
# and prints the install directory (for KAFKA_HOME) on stdout. Progress
# goes to stderr. A stamp holding the pom's hash makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
pom="kafka-testkit/kafka/pom.xml"
dir="target/kafka"
stamp="$dir/installed.sha256"

# The 4.x broker needs Java 17 or newer. Like Kafka's own scripts (and
# the test harness), use $JAVA_HOME/bin/java when JAVA_HOME is set.
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java" >/dev/null 2>&1; then
    echo "install-kafka: no '$java'; install a JDK 17 or newer (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME" >&2
    exit 1
fi
java_version="$("$java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -1)"
java_major="${java_version%%.*}"
if [ "$java_major" = 1 ]; then
    # Java 8 and older spell themselves 1.x.
    java_major="$(echo "$java_version" | cut -d. -f2)"
fi
if ! [ "${java_major:-0}" -ge 17 ] 2>/dev/null; then
    echo "install-kafka: Kafka 4 needs Java 17 or newer, but '$java' is ${java_version:-unknown}; set JAVA_HOME to a newer JDK or put one first on PATH" >&2
    exit 1
fi

want="$(sha256sum "$pom" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/libs" ]; then
    echo "install-kafka: up to date in $dir (java $java_version)" >&2
    echo "$root/$dir"
    exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
    echo "install-kafka: no 'mvn' on PATH; install Maven (e.g. apt-get install maven)" >&2
    exit 1
fi
echo "install-kafka: resolving $pom from Maven Central into $dir/libs (java $java_version)" >&2
start=$(date +%s)
rm -rf "$dir/libs" "$stamp"
mkdir -p "$dir"
# Maven's output is kept in a log and shown only when it fails.
log="$dir/mvn.log"
if ! mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$root/$dir/libs" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-kafka: mvn failed (log above, also in $log)" >&2
    exit 1
fi
cp "$pom" "$dir/pom.xml"
echo "$want" > "$stamp"
echo "install-kafka: $(ls "$dir/libs" | wc -l) jars, $(du -sh "$dir/libs" | cut -f1), in $(( $(date +%s) - start )) s" >&2
echo "$root/$dir"
