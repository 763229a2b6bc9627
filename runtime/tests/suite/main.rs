//! The runtime's integration tests, one test binary (one link, and the generic code they share
//! compiled once). Each file is a module named as the file; `cargo test -p symplode-runtime
//! --test suite solver::` runs one. Tests that change process-wide settings (the forced SIMD
//! level, the forced L2 size) stay in binaries of their own next to this folder, as do the
//! no-allocation tests, which install counting global allocators (`no_alloc/`, per thread, and
//! `symplectic_alloc.rs`, which also counts rayon's worker threads).

#[path = "../common/mod.rs"]
mod common;

mod analytic;
mod auto;
mod binomial;
mod composition;
mod controller_golden;
mod exactness;
mod finite_differences;
mod hvp;
mod hvp_dual;
mod hvp_models;
mod image_flow;
mod interp_cnf_energy;
mod interp_conv2d;
mod interp_errors;
mod interp_mlp;
mod interp_perf;
mod interp_periodic;
mod interp_random;
mod interp_uniform;
mod jit_equivalence;
mod jit_network;
mod jit_network_gemm;
mod jit_network_perf;
mod jit_property;
mod linalg_dense;
mod linalg_matmul;
mod models_analytic;
mod models_mlp;
mod models_mlp_row_blocks;
mod models_perf;
mod optim_steps;
mod parallel;
mod per_sample;
mod precision_and_memory;
mod reversible;
mod solver;
mod step_kernels;
