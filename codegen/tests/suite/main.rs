//! The code generator's integration tests, one test binary (one link, and the code they share
//! compiled once). Each file is a module named as the file; `cargo test -p symplode-codegen
//! --test suite partner::` runs one.

mod ad_cnf;
mod ad_conv2d;
mod ad_energy;
mod ad_random;
mod builtin_orders;
mod errors;
mod ir_display;
mod ir_errors;
mod ir_eval;
mod ir_passes;
mod jit_verifier;
mod partner;
