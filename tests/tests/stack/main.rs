//! The stack suite: the whole bundle over HTTP through `cargo lambda watch`, the kill drill
//! and the true-up benchmark. Every test is `#[ignore]`d; `make test`, `make bench-true-up`
//! run them by module (`blackbox::`, `kill_drill::`, `bench_true_up::`) with the stack up.

mod bench_true_up;
mod blackbox;
mod kill_drill;
