//! Runs the `loop` example's flow (the same code) against the mock.

#[path = "../examples/loop.rs"]
mod example;

#[test]
fn the_loop_example_runs() {
    example::main().expect("the example succeeds");
}
