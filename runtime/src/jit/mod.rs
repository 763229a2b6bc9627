//! JIT-compiled step kernels for runtime-chosen tableaux (feature `jit`).
//!
//! [`JitKernels`] adapts a [`JitTableau`] (Cranelift-compiled in `symplode_codegen::jit`) to
//! [`StepKernels`]; [`jit_scheme`] validates and compiles a tableau and returns a [`Scheme`]
//! with the kernels attached, so every solver and all five gradient methods run native code
//! with the coefficients baked in. The command line's `--jit` flags call [`jit_scheme`] and
//! [`check_summary`].
//!
//! [`JitNetwork`] runs an [`Interpreted`](crate::interp::Interpreted) network as generated
//! native functions: dense layers call the runtime's GEMM through a function pointer, the
//! elementwise work around them is inline vector code (bit-equal to the interpreter). The
//! `extern "C"` shims the generated code calls, and the one call into it, are in `ffi.rs`.
//!
//! ```
//! use symplode_runtime::jit::{JitOptions, jit_scheme};
//! use symplode_codegen::tableau::builtin;
//!
//! let (scheme, report) = jit_scheme::<f64>(&builtin("dopri5")?, &JitOptions::default())?;
//! assert!(scheme.is_compiled());
//! println!("{}", report.summary(false));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod ffi;
mod network;

pub use network::JitNetwork;
pub use symplode_codegen::jit::NetworkMode;

use std::sync::Arc;

pub use symplode_codegen::jit::{
    FunctionReport, JitError, JitFloat, JitOptions, JitReport, JitTableau, OptLevel,
};
use symplode_codegen::tableau::Tableau;

use crate::real::Real;
use crate::scheme::Scheme;
use crate::step_kernels::StepKernels;

/// The element types the JIT compiles for: `f64` and `f32`.
pub trait JitReal: Real + JitFloat {}
impl JitReal for f64 {}
impl JitReal for f32 {}

/// Compiled step kernels of one tableau, usable by [`Scheme::with_kernels`].
#[derive(Clone, Debug)]
pub struct JitKernels<T: JitReal> {
    tableau: JitTableau<T>,
}

impl<T: JitReal> JitKernels<T> {
    /// Validates and compiles `tableau`.
    ///
    /// # Errors
    /// See [`JitTableau::compile`].
    pub fn compile(tableau: &Tableau, opts: &JitOptions) -> Result<Self, JitError> {
        Ok(JitKernels {
            tableau: JitTableau::compile(tableau, opts)?,
        })
    }

    /// The compiled tableau (kernels, report).
    pub fn tableau(&self) -> &JitTableau<T> {
        &self.tableau
    }
}

impl<T: JitReal> StepKernels<T> for JitKernels<T> {
    fn stage_input(&self, i: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        self.tableau.stage_input(i, h, x, k, out)
    }
    fn update(&self, m: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        self.tableau.update(m, h, x, k, out)
    }
    fn error_estimate(&self, h: T, k: &[Vec<T>], out: &mut [T]) {
        self.tableau.error_estimate(h, k, out)
    }
    fn adjoint_cotangent(&self, i: usize, h: T, lam: &[T], u: &[Vec<T>], out: &mut [T]) {
        self.tableau.adjoint_cotangent(i, h, lam, u, out)
    }
}

/// Validates and compiles `tableau`, and returns its [`Scheme`] with the JIT kernels attached
/// together with the compilation report (compile time, functions, disassembly on request).
///
/// # Errors
/// [`JitError::Tableau`] for an invalid tableau (failing condition, stage, residual),
/// [`JitError::Coefficient`], or a Cranelift error. Never panics on user input.
pub fn jit_scheme<T: JitReal>(
    tableau: &Tableau,
    opts: &JitOptions,
) -> Result<(Scheme<T>, JitReport), JitError> {
    let kernels = JitKernels::<T>::compile(tableau, opts)?;
    let report = kernels.tableau().report().clone();
    let scheme = Scheme::<T>::new(tableau).map_err(|e| match e {
        crate::SolveError::Tableau(t) => JitError::Tableau(t),
        other => JitError::Module(other.to_string()),
    })?;
    Ok((scheme.with_kernels(Arc::new(kernels)), report))
}

/// What `symplode tableau check T.toml --jit [--disasm]` prints: validation and compile time,
/// the generated functions and, with `disasm`, their machine code. Compiles for `f64` with the
/// verifier on.
///
/// # Errors
/// As [`jit_scheme`].
pub fn check_summary(tableau: &Tableau, disasm: bool) -> Result<String, JitError> {
    let opts = JitOptions {
        verify: true,
        disasm,
        ..JitOptions::default()
    };
    let t = JitTableau::<f64>::compile(tableau, &opts)?;
    Ok(format!(
        "tableau `{}`: validated in {:.3} ms; {}",
        t.name(),
        t.validate_time().as_secs_f64() * 1e3,
        t.report().summary(disasm)
    ))
}
