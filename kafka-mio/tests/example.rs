//! Runs the `loop` example's code against the mock.

#[allow(dead_code)] // its `main` is for `cargo run`
#[path = "../examples/loop.rs"]
mod example;

#[test]
fn the_loop_example_runs() {
    example::run(None).expect("the example succeeds");
}
