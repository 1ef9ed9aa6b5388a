#!/usr/bin/env python3
"""Summarise criterion results: median times per group and speed ratios.

Reads target/criterion/**/new/estimates.json (and the sibling
benchmark.json for the group and function names) and prints, per group, a
markdown table of median times, then lines

    ratio <group> <op>/<ours>-vs-kafka-protocol: <kafka-protocol time / our time>
    ratio <group> <op>/<ours>-vs-floor: <our time / floor time>

The first is a speedup (above 1 means we are faster); the second is how
many times the CRC32C+memcpy floor of the same group our time is (lower is
better). Only ratios within one group (one run) are computed.

Usage: scripts/bench-ratios.py [criterion-dir]   (default: target/criterion)
"""

import json
import os
import sys

THEIRS = "kafka-protocol"
FLOOR = "floor/crc32c+memcpy"


def load(root):
    groups = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        bench_path = os.path.join(dirpath, "benchmark.json")
        if os.path.exists(bench_path):
            with open(bench_path) as f:
                b = json.load(f)
            group, func = b["group_id"], b.get("function_id") or b.get("value_str") or ""
        else:
            rel = os.path.relpath(os.path.dirname(dirpath), root).split(os.sep)
            group, func = rel[0], "/".join(rel[1:])
        groups.setdefault(group, {})[func] = est["median"]["point_estimate"]
    return groups


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join("target", "criterion")
    groups = load(root)
    if not groups:
        sys.exit(f"no criterion estimates under {root}")
    ratios = []
    for group in sorted(groups):
        funcs = groups[group]
        print(f"### {group}\n")
        print("| benchmark | median |")
        print("|---|---:|")
        for func in sorted(funcs):
            print(f"| {func} | {fmt_time(funcs[func])} |")
        print()
        floor = funcs.get(FLOOR)
        for func in sorted(funcs):
            op, _, who = func.partition("/")
            if not who.startswith("ours"):
                continue
            theirs = funcs.get(f"{op}/{THEIRS}")
            if theirs is not None:
                ratios.append(
                    f"ratio {group} {func}-vs-{THEIRS}: {theirs / funcs[func]:.2f}"
                )
            if floor is not None:
                ratios.append(f"ratio {group} {func}-vs-floor: {funcs[func] / floor:.2f}")
    print("```")
    for line in ratios:
        print(line)
    print("```")


if __name__ == "__main__":
    main()
