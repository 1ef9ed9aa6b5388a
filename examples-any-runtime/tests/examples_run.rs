//! Runs both examples as a user would, so CI proves they work.

use std::process::Command;

fn run_example(name: &str, expect: &str) {
    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "-p", "any-runtime", "--example", name])
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(expect), "{name} printed: {stdout}");
}

#[test]
fn smol_example_creates_a_topic() {
    run_example("smol", "created from-smol with 3 partitions");
}

#[test]
fn async_std_example_creates_a_topic() {
    run_example("async_std", "created from-async-std with 3 partitions");
}
