#!/usr/bin/env bash
# Extracts Kafka's message schemas (common/message/*.json) from the
# kafka-clients jar that scripts/install-kafka.sh put in target/kafka/libs/
# into target/kafka/schemas/MAJOR.MINOR/, where kafka-proto-codegen reads
# them as the newest release beside ../shared/kafka-schemas. Prints that
# directory on stdout.
#
# Usage: scripts/kafka-schemas.sh [path/to/kafka-clients-X.Y.Z.jar]
#
# The directory is named after the minor release only, so that a patch
# bump of the pinned broker does not rewrite every generated file's
# "Layout source" line; the jar it came from is recorded in SOURCE.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
    jarfile="$1"
else
    shopt -s nullglob
    jars=(target/kafka/libs/kafka-clients-*.jar)
    shopt -u nullglob
    if [ "${#jars[@]}" -ne 1 ]; then
        echo "kafka-schemas: expected one target/kafka/libs/kafka-clients-*.jar, found ${#jars[@]}; run scripts/install-kafka.sh first" >&2
        exit 1
    fi
    jarfile="${jars[0]}"
fi
if [ ! -f "$jarfile" ]; then
    echo "kafka-schemas: $jarfile: no such file" >&2
    exit 1
fi
jarfile="$(cd "$(dirname "$jarfile")" && pwd)/$(basename "$jarfile")"

version="$(basename "$jarfile" .jar)"
version="${version#kafka-clients-}"
release="$(echo "$version" | sed -n 's/^\([0-9][0-9]*\.[0-9][0-9]*\)\..*$/\1/p')"
if [ -z "$release" ]; then
    echo "kafka-schemas: cannot read a X.Y.Z version from $jarfile" >&2
    exit 1
fi

out="target/kafka/schemas/$release"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# unzip is not on every fresh machine, but the JDK the broker needs is.
if command -v unzip >/dev/null 2>&1; then
    unzip -q "$jarfile" 'common/message/*.json' -d "$tmp"
else
    (cd "$tmp" && jar xf "$jarfile" common/message)
fi
count="$(find "$tmp/common/message" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l)"
if [ "$count" -eq 0 ]; then
    echo "kafka-schemas: no common/message/*.json in $jarfile" >&2
    exit 1
fi

# Replace the whole directory, so a schema dropped by a new release does
# not linger from an older extraction.
rm -rf "$out"
mkdir -p "$out"
cp "$tmp"/common/message/*.json "$out/"
echo "$(basename "$jarfile")" > "$out/SOURCE"
echo "kafka-schemas: $count schemas of Kafka $version in $out" >&2
echo "$(pwd)/target/kafka/schemas"
