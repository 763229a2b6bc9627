//! The plan: a graph (or part of one) compiled into steps over buffers, the program all
//! three executions run. The runtime interpreter executes a plan's steps, the Cranelift JIT
//! compiles runs of them ([`crate::jit`]), and each step names one runtime kernel.
//!
//! One step per node with the buffer each value lives in, assigned once by a liveness-based
//! allocator ([`compile`]). Buffers are offsets into two arenas per buffer kind: **global**
//! values (parameter gradients, computed weights) in elements, **batched** values in rows of
//! `B` (a value of width `w` takes `w` units, i.e. `w·B` elements). A program's scratch is
//! laid out as `[globals | batched]`, so its length is `globals + batched·B` for every batch
//! size. Elementwise steps reuse (run in place on) an operand that dies there, and the `tanh`
//! derivative `g·(1 − y²)` is fused into one step ([`Kernel::TanhGrad`]).
//!
//! [`NetworkPlans`] builds the four programs of a vector field (eval, VJP, taped forward,
//! taped backward) from its graph.

mod compile;
mod dense_time;
mod fuse;
mod network;

pub use compile::compile;
pub use network::NetworkPlans;

use crate::ir::{BinaryOp, Conv2dShape, ConvShape, Graph, SqueezeShape, Type, UnaryOp, Value};

/// The arena of a buffer: scratch or tape, global part or batched part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arena {
    /// Global part of the caller's scratch.
    ScratchG,
    /// Batched part of the caller's scratch.
    ScratchB,
    /// Global part of the tape.
    TapeG,
    /// Batched part of the tape.
    TapeB,
}

/// Where a value lives while a program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The state `x` (input 0).
    X,
    /// The cotangent `λ`.
    Lam,
    /// Auxiliary input `i` (held by the model).
    Aux(usize),
    /// The parameter tensor at this offset of θ.
    Param(usize),
    /// The program's global constant at this offset.
    Const(usize),
    /// A buffer: arena and offset (elements for global arenas, rows for batched ones).
    Buf(Arena, usize),
    /// The caller's `dx`.
    Dx,
    /// The caller's `gx`.
    Gx,
    /// The caller's `gp` at this offset (accumulated into).
    Gp(usize),
}

/// Elements of a value: `per_row·B + fixed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Len {
    /// Width of a batched value (0 for a global one).
    pub per_row: usize,
    /// Element count of a global value (0 for a batched one).
    pub fixed: usize,
}

impl Len {
    /// The length of a value of type `ty`.
    pub fn of(ty: &Type) -> Len {
        match ty {
            Type::Batched { width } => Len {
                per_row: *width,
                fixed: 0,
            },
            Type::Global { .. } => Len {
                per_row: 0,
                fixed: ty.numel(),
            },
        }
    }

    /// Elements for batch size `batch`.
    pub fn at(self, batch: usize) -> usize {
        self.per_row * batch + self.fixed
    }

    /// Whether the value is batched.
    pub fn batched(self) -> bool {
        self.per_row > 0
    }
}

/// What one step computes (shapes resolved from the node types).
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// Fill with a constant.
    Fill(f64),
    /// Fill with the time.
    Time,
    /// `x Wᵀ (+ b)`; args `x, w (, b)`.
    Dense {
        /// Input width.
        inp: usize,
        /// Output width.
        out: usize,
    },
    /// A dense layer reading `[x, t]` (the time last) without materialising it:
    /// `x W[:, :k]ᵀ + (b + t·W[:, k])`, the time column folded into the bias exactly as the
    /// runtime's `dense::affine_time`; args `x, w, b` (`w` is `[out, k + 1]`).
    DenseTime {
        /// Columns of `x` (the weight has `k + 1`).
        k: usize,
        /// Output width.
        out: usize,
    },
    /// `x W`; args `x, w`.
    DenseNT {
        /// Input width (rows of `W`).
        k: usize,
        /// Output width (columns of `W`).
        m: usize,
    },
    /// `x W[:, :cols]` (the input gradient of a [`Kernel::DenseTime`] layer, the time column
    /// dropped); args `x, w` with `w` `[k, m]`.
    DenseNTCols {
        /// Input width (rows of `W`).
        k: usize,
        /// Columns of `W`.
        m: usize,
        /// Columns computed (`cols ≤ m`).
        cols: usize,
    },
    /// The weight gradient of a [`Kernel::DenseTime`] layer: `G[:, :k] (+)= Σ_batch aᵀ x`,
    /// `G[:, k] (+)= t·Σ_batch a` (accumulated row by row, `G[j, k] += t·a[r, j]`); args
    /// `a, x`; the output is `[p, k + 1]`.
    BatchOuterTime {
        /// Width of `a` (the layer's output width).
        p: usize,
        /// Width of `x`.
        k: usize,
        /// Add into the output instead of overwriting it.
        acc: bool,
    },
    /// `Σ_batch aᵀ b`; args `a, b`; `acc`: add into the output.
    BatchOuter {
        /// Width of `a`.
        p: usize,
        /// Width of `b`.
        q: usize,
        /// Add into the output instead of overwriting it.
        acc: bool,
    },
    /// Column sums; `acc`: add into the output (row by row).
    BatchSum {
        /// Width.
        w: usize,
        /// Add into the output instead of overwriting it.
        acc: bool,
    },
    /// Rows of copies.
    BroadcastRows {
        /// Width.
        w: usize,
    },
    /// Elementwise unary.
    Unary(UnaryOp),
    /// `g · (1 − y²)` (the derivative of `tanh` from its output, fused); args `g, y`.
    TanhGrad,
    /// Elementwise binary; `wa`, `wb` widths of batched operands (0 for globals).
    Binary {
        /// The operation.
        op: BinaryOp,
        /// Width of a batched left operand (0 for a global).
        wa: usize,
        /// Width of a batched right operand (0 for a global).
        wb: usize,
    },
    /// `c·x`.
    Scale(f64),
    /// Concatenation of parts of these widths.
    Concat(Vec<usize>),
    /// Columns `start..start + len` of a `[B,w]`.
    Slice {
        /// Width of the input.
        w: usize,
        /// First column.
        start: usize,
        /// Number of columns.
        len: usize,
    },
    /// Sums of groups.
    SumGroups(usize),
    /// Repetitions.
    RepeatGroups(usize),
    /// Periodic stencil.
    Stencil {
        /// Coefficients, centred (`2r + 1` of them).
        coeffs: Vec<f64>,
        /// Grid points per channel.
        n: usize,
    },
    /// Periodic convolution; args `x, w (, b)`.
    Conv1d(ConvShape),
    /// Its input-transpose; args `y, w`.
    Conv1dT(ConvShape),
    /// Its weight gradient; args `dy, x`; `acc`: add into the output.
    Conv1dWGrad {
        /// The convolution's shape.
        shape: ConvShape,
        /// Add into the output instead of overwriting it.
        acc: bool,
    },
    /// 2-D convolution; args `x, w (, b)`. `cols` is a global scratch buffer of
    /// [`Conv2dShape::cols_len`] elements (one sample's im2col matrix) that lives only
    /// during this step.
    Conv2d {
        /// The convolution's shape.
        shape: Conv2dShape,
        /// The im2col scratch.
        cols: Slot,
    },
    /// Its input-transpose; args `y, w`; `cols` as for [`Kernel::Conv2d`].
    Conv2dT {
        /// The convolution's shape.
        shape: Conv2dShape,
        /// The im2col scratch.
        cols: Slot,
    },
    /// Its weight gradient; args `dy, x`; `acc`: add into the output; `cols` as for
    /// [`Kernel::Conv2d`].
    Conv2dWGrad {
        /// The convolution's shape.
        shape: Conv2dShape,
        /// The im2col scratch.
        cols: Slot,
        /// Add into the output instead of overwriting it.
        acc: bool,
    },
    /// 2×2 space-to-channel; arg `x`.
    Squeeze(SqueezeShape),
    /// Its inverse; arg `x`.
    Unsqueeze(SqueezeShape),
}

/// One step: a kernel, its output buffer and its operands.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What it computes.
    pub kernel: Kernel,
    /// Where the result goes.
    pub out: Slot,
    /// The result's length.
    pub len: Len,
    /// The operands, in the op's order, with their lengths.
    pub args: Vec<(Slot, Len)>,
}

/// What happens after the steps: outputs not computed in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Finish {
    /// Copy a batched value to `Dx`/`Gx`.
    Copy {
        /// Source.
        from: Slot,
        /// Destination (`Dx` or `Gx`).
        to: Slot,
        /// Length.
        len: Len,
    },
    /// `gp[off..off + n] += value`.
    AddGp {
        /// Source.
        from: Slot,
        /// Offset in `gp`.
        off: usize,
        /// Element count.
        n: usize,
    },
}

/// A compiled program: steps over buffers assigned once (see the [module documentation](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Copies and accumulations after the steps.
    pub finish: Vec<Finish>,
    /// Global constants (`Slot::Const` offsets), as f64 (each execution converts them once).
    pub consts: Vec<f64>,
    /// Auxiliary inputs read.
    pub aux_used: Vec<usize>,
    /// Global elements of the temporary arena.
    pub globals: usize,
    /// Batched rows of the temporary arena.
    pub rows: usize,
}

impl Plan {
    /// Elements of the temporary arena for this batch.
    pub fn arena_len(&self, batch: usize) -> usize {
        batch.saturating_mul(self.rows).saturating_add(self.globals)
    }
}

/// Where temporaries go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temps {
    /// The caller's scratch.
    Scratch,
    /// The tape (for `eval_taped`, which has no scratch).
    Tape,
}

/// What to compile: a graph, its outputs and where they go, where temporaries live.
pub struct PlanSpec<'a> {
    /// The graph.
    pub graph: &'a Graph,
    /// Outputs and their destinations (`Dx`, `Gx` or `Gp(offset)`).
    pub outputs: Vec<(Value, Slot)>,
    /// The cotangent input's index, if any.
    pub lam_input: Option<u32>,
    /// Where temporaries go.
    pub temps: Temps,
    /// Values to keep on the tape (forward pass of the taped path).
    pub reserve: &'a [Value],
    /// Values read from the tape (backward pass), with their slots.
    pub load: &'a [(Value, Slot)],
    /// Offsets of the parameter tensors in θ.
    pub param_offsets: &'a [usize],
}
