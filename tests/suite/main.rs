//! The facade's integration tests, one test binary (one link, and the generic code they share
//! compiled once). Each file is a module named as the file; `cargo test --test suite cli_train::`
//! runs one. Two stay in binaries of their own: `mpi_train` (feature `mpi`, run under `mpiexec`)
//! and `fuzz_readers` (its own global allocator). The trybuild cases are in `compile-tests/`.

#[path = "../common/mod.rs"]
mod common;
#[cfg(feature = "cli")]
#[path = "../common/flow_cli.rs"]
mod flow_cli;
#[path = "../common/passes.rs"]
mod passes;
#[path = "../../examples/common/toy.rs"]
mod toy;

mod cli_bad_input;
mod cli_flow_eval;
mod cli_grad_solve;
mod cli_hvp;
mod cli_image_chain;
mod cli_image_model;
mod cli_jit;
mod cli_tableau;
mod cli_tabular_chain;
mod cli_train;
mod cli_train_flow;
mod cli_train_image;
mod cnf_data;
mod cnf_density;
mod datasets;
mod hostile_cli;
mod hostile_files;
mod hostile_training;
mod image_model;
mod io_npy;
mod io_safetensors;
mod io_spec;
mod io_tableau;
mod macro_cnf_stack;
mod macro_conv2d;
mod macro_equivalence;
mod macro_forms;
mod macro_multiscale;
mod physics_data;
mod physics_forms;
mod physics_model;
mod physics_train;
mod scratch_paths;
mod train_checkpoint;
mod train_flow;
mod train_loop;
