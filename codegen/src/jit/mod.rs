//! Cranelift JIT lowering of validated tableaux to native step kernels (feature `jit`).
//!
//! [`JitTableau::compile`] runs the same validation as the `neural_ode!` macro (structure and
//! consistency at construction, the claimed orders within the tableau's tolerance, the
//! symplectic partner with its exact pairing proof), then lowers every kernel of a step to
//! native code with the coefficients baked in as constants:
//!
//! * forward stage inputs `x + h Σ_{j<i} a_ij k_j` (also used by stage recomputation),
//! * updates `x + h Σ_{i<m} b_i k_i` for every stage count `m` (FSAL handled by the caller,
//!   which copies the last stage input; the trailing zero weights are skipped),
//! * the error estimate `h Σ_i (b_i − b̂_i) k_i`,
//! * the symplectic adjoint's stage cotangents with the partner's coupling coefficients.
//!
//! Zero coefficients are skipped. The loops run on 128-bit vectors (`f64x2` / `f32x4`),
//! unrolled, with a scalar tail, and use fused multiply–add when the host has it (the ISA is
//! detected at run time by `cranelift-native`) and [`JitOptions::fma`] is on. With `fma` off
//! the kernels round exactly as the interpreted loops of the runtime's `Scheme`.
//!
//! The lowering is a small kernel IR ([`Node`]) and a translator with one match arm per
//! node (`lower.rs`); every function is checked by Cranelift's verifier when
//! [`JitOptions::verify`] is set. All `unsafe` code — turning finalised code pointers into
//! callable functions and calling them — lives in `boundary.rs`.
//!
//! For networks, [`JitFused`] compiles fused elementwise chains ([`FusedSpec`]) and
//! [`JitSegments`] compiles whole runs of a network program ([`SegmentSpec`]: dense layers
//! as calls to the runtime's GEMM through a function pointer, bias rows, activations and
//! their derivatives around them) — see `lower/segment.rs`. [`plan_segments`] cuts a
//! network [`Plan`](crate::plan::Plan) into such segments.

mod boundary;
mod from_plan;
mod lower;
mod network;
mod segment;
mod tableau;

pub use boundary::{Callbacks, FusedKernel, GemmFn, Kernel, RawSegment, SegmentKernel, TanhFn};
pub use from_plan::{
    At, MAX_PTRS, NetworkMode, PlannedSegment, ProgramSegments, Touched, plan_segments,
};
pub use lower::{
    Coef, Dim, FillValue, FusedOp, FusedSpec, FusedStep, GemmSpec, KernelSpec, Node, SegOp,
    SegmentSpec, Source,
};
pub use network::JitFused;
pub use segment::JitSegments;
pub use tableau::JitTableau;

use std::fmt;
use std::time::Duration;

use crate::tableau::TableauError;

/// Why a JIT compilation failed. Never a panic: invalid input is reported with the failing
/// condition (for tableaux the stage, tree and exact residual of [`TableauError`]).
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The tableau failed validation (order claim, partner, …).
    #[error("invalid tableau: {0}")]
    Tableau(#[from] TableauError),
    /// A coefficient is not finite in the kernel's float type (e.g. overflows `f32`).
    #[error(
        "tableau `{name}`: coefficient {which} of stage {stage} is {value}, not finite in {ty}"
    )]
    Coefficient {
        /// Tableau name.
        name: String,
        /// Which coefficient (`a_ij`, `b_i`, `coupling_ij`, …).
        which: String,
        /// 1-based stage.
        stage: usize,
        /// The rounded value.
        value: f64,
        /// The float type.
        ty: &'static str,
    },
    /// The host is not supported by Cranelift, or a setting was rejected.
    #[error("cranelift ISA: {0}")]
    Isa(String),
    /// A generated function failed Cranelift's verifier (an internal bug).
    #[error("verifier rejected `{function}`: {message}")]
    Verifier {
        /// The generated function's name.
        function: String,
        /// The verifier's errors.
        message: String,
    },
    /// Cranelift failed to compile or link a function.
    #[error("cranelift module: {0}")]
    Module(String),
}

/// Cranelift's optimisation level for generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No optimisation (fastest compile).
    None,
    /// Optimise for speed (the default).
    Speed,
}

/// Options of a JIT compilation.
#[derive(Clone, Debug)]
pub struct JitOptions {
    /// Cranelift's optimisation level.
    pub opt_level: OptLevel,
    /// Use fused multiply–add when the host has it. Off: the kernels round exactly as the
    /// interpreted loops.
    pub fma: bool,
    /// Run Cranelift's verifier on every generated function.
    pub verify: bool,
    /// Keep each function's disassembly in the [`JitReport`].
    pub disasm: bool,
    /// Vector registers per loop iteration (1, 2 or 4).
    pub unroll: usize,
    /// Re-check the claimed orders exactly before compiling (on by default). Checking order
    /// 8 takes a few hundred milliseconds; tableaux from `builtin` or `Tableau::new_checked`
    /// were checked when built, so callers holding those may turn it off. The symplectic
    /// partner and its pairing proof are always checked.
    pub check_order: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            opt_level: OptLevel::Speed,
            fma: true,
            verify: cfg!(debug_assertions),
            disasm: false,
            unroll: 2,
            check_order: true,
        }
    }
}

/// One generated function.
#[derive(Clone, Debug)]
pub struct FunctionReport {
    /// Its name (`stage_3`, `update_7`, `error`, `adjoint_2`, …).
    pub name: String,
    /// Cranelift IR instructions before optimisation.
    pub ir_insts: usize,
    /// Machine code bytes.
    pub code_bytes: usize,
    /// Whether the verifier ran and accepted it.
    pub verified: bool,
    /// The disassembly, when [`JitOptions::disasm`] was set.
    pub disasm: Option<String>,
}

/// What a compilation produced and how long it took.
#[derive(Clone, Debug)]
pub struct JitReport {
    /// Wall time from validation to finalised code.
    pub compile_time: Duration,
    /// Float type (`f32` / `f64`).
    pub float: &'static str,
    /// Vector lanes (2 for `f64x2`, 4 for `f32x4`).
    pub lanes: usize,
    /// Whether fused multiply–add was emitted.
    pub fma: bool,
    /// The target triple.
    pub target: String,
    /// The generated functions (deduplicated: identical kernels are compiled once).
    pub functions: Vec<FunctionReport>,
}

impl JitReport {
    /// Total machine-code bytes.
    pub fn code_bytes(&self) -> usize {
        self.functions.iter().map(|f| f.code_bytes).sum()
    }

    /// A multi-line summary: compile time, target, vector width and one line per function
    /// (with its disassembly below it when `disasm` is true and it was kept).
    pub fn summary(&self, disasm: bool) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "jit: {} functions, {} bytes of code, compiled in {:.3} ms ({} {}x{}, fma {}, {})",
            self.functions.len(),
            self.code_bytes(),
            self.compile_time.as_secs_f64() * 1e3,
            self.float,
            self.float,
            self.lanes,
            if self.fma { "on" } else { "off" },
            self.target
        );
        for f in &self.functions {
            let _ = writeln!(
                s,
                "  {:<14} {:>4} IR insts {:>5} bytes{}",
                f.name,
                f.ir_insts,
                f.code_bytes,
                if f.verified { "  verified" } else { "" }
            );
            if disasm && let Some(d) = &f.disasm {
                for line in d.lines() {
                    let _ = writeln!(s, "      {line}");
                }
            }
        }
        s
    }
}

impl fmt::Display for JitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary(false))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The float types the JIT emits kernels for: `f64` (as `f64x2`) and `f32` (as `f32x4`).
pub trait JitFloat: sealed::Sealed + Copy + Send + Sync + 'static {
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Size in bytes.
    const BYTES: usize;
    /// Rounds an `f64` to this type.
    fn round(x: f64) -> Self;
    /// Widens to `f64`.
    fn widen(self) -> f64;
}

impl JitFloat for f64 {
    const NAME: &'static str = "f64";
    const BYTES: usize = 8;
    fn round(x: f64) -> Self {
        x
    }
    fn widen(self) -> f64 {
        self
    }
}

impl JitFloat for f32 {
    const NAME: &'static str = "f32";
    const BYTES: usize = 4;
    fn round(x: f64) -> Self {
        x as f32
    }
    fn widen(self) -> f64 {
        self as f64
    }
}
