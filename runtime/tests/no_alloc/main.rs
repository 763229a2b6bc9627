//! The no-allocation tests of the runtime, one test binary: after warm-up, a model's passes and
//! the network JITs make no heap allocation on the calling thread. The binary installs a
//! counting global allocator (`support/thread_alloc.rs`) whose counters are per thread, so these
//! tests run in parallel without seeing each other's allocations.

#[path = "../support/thread_alloc.rs"]
mod thread_alloc;

#[global_allocator]
static GLOBAL: thread_alloc::Counting = thread_alloc::Counting;

mod interp_alloc;
mod jit_network_alloc;
mod jit_network_gemm_alloc;
mod models_alloc;
