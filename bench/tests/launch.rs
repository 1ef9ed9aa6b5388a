//! The launcher the bench starts its clients through reports the client's
//! own peak RSS, not the image it was spawned from.

use std::process::Command;

/// Peak RSS in KiB that a `__launch` of `/bin/sh -c true` reports.
fn launched_rss_kib() -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-bench"))
        .args(["__launch", "10", "/bin/sh", "-c", "echo result"])
        .output()
        .expect("launcher runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("result"), "the child's output first");
    let last = lines.next().expect("the launcher's line");
    assert!(last.starts_with("launched code=0 "), "{last}");
    last.rsplit_once("max_rss_kib=")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a peak RSS")
}

#[test]
fn a_launched_child_reads_its_own_peak_not_its_spawners() {
    // This process grows well past any shell's size first; a child spawned
    // from it directly would read at least that much.
    let ballast = vec![1u8; 64 << 20];
    std::hint::black_box(&ballast);
    let rss = launched_rss_kib();
    assert!(rss > 0);
    assert!(rss < 16 << 10, "a shell launched read {rss} KiB");
}
