//! The stack suite: the whole bundle over HTTP through `cargo lambda watch`, the kill drill
//! and the benchmarks. Every test is `#[ignore]`d; `make test`, `make bench-true-up` and
//! `make bench-mail` run them by module (`blackbox::`, `portal_pages::`, `kill_drill::`,
//! `bench_true_up::`, `bench_mail::`) with the stack up.

mod bench_mail;
mod bench_true_up;
mod blackbox;
mod browser;
mod kill_drill;
mod portal_pages;
mod template_stack;
