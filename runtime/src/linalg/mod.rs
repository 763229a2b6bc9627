//! Numeric kernels under the models and the interpreter: dense products that never allocate
//! ([`matmul`]), the dense layer and its derivatives on top of them ([`dense`]), the
//! elementwise ops and activations ([`elementwise`]), and vectorised `exp`/`tanh` over slices
//! ([`fastmath`]); [`simd`] selects (or forces, for tests) their SIMD path, [`cache`] reads the
//! cache sizes the GEMM blocks for.

pub mod cache;
pub mod dense;
pub mod elementwise;
pub mod fastmath;
pub mod matmul;
pub mod simd;
