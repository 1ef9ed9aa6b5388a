#!/usr/bin/env bash
# Builds every fuzz target and replays its committed corpus (corpus/<target>/)
# and regression inputs (regressions/<target>/), without fuzzing.
# Exits non-zero if a build fails or any input crashes. Used by CI.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a toolchain that accepts
# -Z flags: nightly, or stable with RUSTC_BOOTSTRAP=1 (set here by default).
#
# Usage: fuzz/replay.sh [target...]   (default: every target of `cargo fuzz list`)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "==> building fuzz targets"
cargo fuzz build

failed=()
for t in "${targets[@]}"; do
    dirs=()
    for d in "corpus/$t" "regressions/$t"; do
        if [ -d "$d" ] && [ -n "$(ls -A "$d")" ]; then
            dirs+=("$d")
        fi
    done
    if [ "${#dirs[@]}" -eq 0 ]; then
        echo "==> $t: no corpus/$t or regressions/$t, skipped"
        continue
    fi
    echo "==> $t: replaying ${dirs[*]}"
    # -runs=0: run each input once, no mutation. Copy the inputs so that
    # libFuzzer never writes into the committed directories.
    work="$(mktemp -d)"
    for d in "${dirs[@]}"; do cp -R "$d/." "$work/"; done
    if cargo fuzz run "$t" "$work" -- -runs=0 -rss_limit_mb=2048 -malloc_limit_mb=512; then
        echo "==> $t: ok ($(ls -A "$work" | wc -l) inputs)"
    else
        echo "==> $t: FAILED"
        failed+=("$t")
    fi
    rm -rf "$work"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "replay failed for: ${failed[*]}" >&2
    exit 1
fi
echo "all fuzz targets replayed cleanly"
