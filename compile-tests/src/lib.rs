//! Compile-time checks of `neural_ode!` and `tableau!` (trybuild), in a crate of their own so
//! that trybuild's project depends on the facade without default features: `cargo test -p
//! symplode-compile-tests`. The cases are in `tests/ui/`; this library is empty.
