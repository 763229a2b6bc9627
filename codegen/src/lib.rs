//! symplode-codegen: exact Runge–Kutta tableaux with symplectic partners (and, later, the
//! network IR and its lowerings).
#![deny(missing_docs)]

pub mod tableau;
