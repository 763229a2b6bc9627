//! symplode-codegen: exact Runge–Kutta tableaux with symplectic partners (`tableau`), the
//! network IR (`ir`) and automatic differentiation as IR → IR transformations (`ad`).
#![deny(missing_docs)]

pub mod ad;
#[cfg(feature = "rust")]
pub mod dsl;
pub mod ir;
#[cfg(feature = "jit")]
pub mod jit;
#[cfg(feature = "rust")]
pub mod lower_rust;
pub mod plan;
pub mod tableau;
