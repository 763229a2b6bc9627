//! [`JitFused`]: fused elementwise chains of a network compiled together in one module.

use std::sync::Arc;
use std::time::Instant;

use cranelift_module::FuncId;

use super::boundary::{CodeMemory, FusedKernel};
use super::lower::{Builder, FusedSpec};
use super::{JitError, JitFloat, JitOptions, JitReport};

/// Compiles every spec (in order) with `define` into one code region and wraps each function
/// with `wrap`. The generated loops never contract to fma (same rounding as the interpreter),
/// which the report says.
pub(crate) fn compile_all<F: JitFloat, S, K>(
    specs: &[S],
    opts: &JitOptions,
    define: fn(&mut Builder, &S) -> Result<FuncId, JitError>,
    wrap: impl Fn(&Arc<CodeMemory>, FuncId, &S) -> K,
) -> Result<(Vec<K>, JitReport), JitError> {
    let start = Instant::now();
    let mut b = Builder::new::<F>(opts)?;
    let mut ids = Vec::with_capacity(specs.len());
    for s in specs {
        ids.push(define(&mut b, s)?);
    }
    let (lanes, target) = (b.lanes(), b.target());
    let functions = std::mem::take(&mut b.reports);
    let code = CodeMemory::new(b.finish()?);
    let kernels = ids
        .iter()
        .zip(specs)
        .map(|(&id, s)| wrap(&code, id, s))
        .collect();
    let report = JitReport {
        compile_time: start.elapsed(),
        float: F::NAME,
        lanes,
        fma: false,
        target,
        functions,
    };
    Ok((kernels, report))
}

/// A set of fused elementwise chains ([`FusedSpec`]) compiled by Cranelift; the runtime's
/// network JIT substitutes them for the interpreter's elementwise steps.
///
/// ```
/// use symplode_codegen::jit::{FusedOp, FusedSpec, FusedStep, JitFused, JitOptions};
///
/// // out = g · (1 − y²), then out = 2·out
/// let spec = FusedSpec {
///     name: "tanh_grad".into(),
///     ptrs: 3,
///     steps: vec![
///         FusedStep { op: FusedOp::TanhGrad, args: vec![0, 1], out: 2, store: false },
///         FusedStep { op: FusedOp::Scale(2.0), args: vec![2], out: 2, store: true },
///     ],
/// };
/// let jit = JitFused::<f64>::compile(&[spec], &JitOptions::default())?;
/// let (mut g, mut y, mut out) = (vec![1.0; 5], vec![0.5; 5], vec![0.0; 5]);
/// jit.kernels()[0].call_slices(&mut [&mut g, &mut y, &mut out], 5);
/// assert!(out.iter().all(|&v| v == 1.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JitFused<F: JitFloat> {
    kernels: Vec<FusedKernel<F>>,
    report: JitReport,
}

impl<F: JitFloat> JitFused<F> {
    /// Compiles every chain (in order).
    ///
    /// # Errors
    /// A malformed spec (arity, slot index) or a Cranelift error.
    pub fn compile(specs: &[FusedSpec], opts: &JitOptions) -> Result<Self, JitError> {
        let (kernels, report) =
            compile_all::<F, _, _>(specs, opts, Builder::define_fused, |c, id, s| {
                FusedKernel::new(c, id, s.ptrs)
            })?;
        Ok(JitFused { kernels, report })
    }

    /// The kernels, in the order of the specs.
    pub fn kernels(&self) -> &[FusedKernel<F>] {
        &self.kernels
    }

    /// What was compiled.
    pub fn report(&self) -> &JitReport {
        &self.report
    }
}
