//! symplode-codegen: exact Runge–Kutta tableaux with symplectic partners (`tableau`), the
//! network IR (`ir`) and automatic differentiation as IR → IR transformations (`ad`).
#![deny(missing_docs)]

pub mod ad;
pub mod ir;
pub mod tableau;
