//! Runs the `loop` example's code against the mock.

#[allow(dead_code)] // its `main` is for `cargo run`
#[path = "../examples/loop.rs"]
mod example;

#[test]
fn the_loop_example_runs() {
    example::run(None).expect("the example succeeds");
}

#[allow(dead_code)]
#[path = "../examples/group.rs"]
mod group_example;

#[test]
fn the_group_example_reads_and_commits_every_record() {
    let read = group_example::run(None).expect("the group example succeeds");
    assert_eq!(read, 30);
}
