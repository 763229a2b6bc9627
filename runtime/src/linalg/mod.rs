//! Numeric kernels under the models and the interpreter: dense products that never allocate
//! ([`matmul`]) and vectorised `exp`/`tanh` over slices ([`fastmath`]).

pub mod fastmath;
pub mod matmul;
