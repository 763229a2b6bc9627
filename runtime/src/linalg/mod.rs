//! Numeric kernels under the models and the interpreter: dense products that never allocate
//! ([`matmul`]), the dense layer and its derivatives on top of them ([`dense`]), the
//! elementwise ops and activations ([`elementwise`]), and vectorised `exp`/`tanh` over slices
//! ([`fastmath`]), 2-D convolutions by im2col on the GEMM ([`conv2d`]); [`simd`] selects (or forces, for tests) their SIMD path, [`cache`] reads the
//! cache sizes the GEMM blocks for.

pub mod cache;
pub mod conv2d;
pub mod dense;
pub mod elementwise;
pub mod fastmath;
pub mod matmul;
pub mod simd;
