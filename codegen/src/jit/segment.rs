//! [`JitSegments`]: segments of a network program compiled together in one module.

use super::boundary::SegmentKernel;
use super::lower::{Builder, SegmentSpec};
use super::network::compile_all;
use super::{JitError, JitFloat, JitOptions, JitReport};

/// A set of network segments ([`SegmentSpec`]) compiled by Cranelift: runs of dense layers
/// (the runtime's GEMM called through a function pointer) and the elementwise work around
/// them, lowered inline. The runtime's network JIT substitutes them for the interpreter's
/// steps; see `symplode_runtime::jit::JitNetwork`.
///
/// ```
/// use symplode_codegen::jit::{Dim, FillValue, JitOptions, JitSegments, SegOp, SegmentSpec};
///
/// // slot 0 = t (batch elements), then slot 1 = 2·slot 0 through a fused chain.
/// use symplode_codegen::jit::{FusedOp, FusedStep};
/// let spec = SegmentSpec {
///     name: "demo".into(),
///     ptrs: 2,
///     ops: vec![
///         SegOp::Fill { dst: 0, n: Dim::rows(1), value: FillValue::Time },
///         SegOp::Chain {
///             n: Dim::rows(1),
///             steps: vec![FusedStep { op: FusedOp::Scale(2.0), args: vec![0], out: 1, store: true }],
///         },
///     ],
/// };
/// let jit = JitSegments::<f64>::compile(&[spec], &JitOptions::default())?;
/// assert_eq!(jit.kernels()[0].ptrs(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JitSegments<F: JitFloat> {
    kernels: Vec<SegmentKernel<F>>,
    report: JitReport,
}

impl<F: JitFloat> JitSegments<F> {
    /// Compiles every segment (in order).
    ///
    /// # Errors
    /// A malformed spec (slot index, chain arity) or a Cranelift error (a verifier rejection
    /// is an internal bug).
    pub fn compile(specs: &[SegmentSpec], opts: &JitOptions) -> Result<Self, JitError> {
        let (kernels, report) =
            compile_all::<F, _, _>(specs, opts, Builder::define_segment, |c, id, s| {
                SegmentKernel::new(c, id, s.ptrs)
            })?;
        Ok(JitSegments { kernels, report })
    }

    /// The kernels, in the order of the specs.
    pub fn kernels(&self) -> &[SegmentKernel<F>] {
        &self.kernels
    }

    /// What was compiled.
    pub fn report(&self) -> &JitReport {
        &self.report
    }
}
