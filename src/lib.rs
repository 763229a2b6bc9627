//! symplode: neural ODEs with exact gradients at minimal memory.
#![deny(missing_docs)]

pub use symplode_codegen as codegen;
pub use symplode_runtime as runtime;
