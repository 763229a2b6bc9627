//! The closed set of operations of the IR, and the scalar reference definitions of the
//! elementwise ones.

use std::fmt;

use super::conv2d::{Conv2dShape, SqueezeShape};
use super::entities::{Type, Value};

/// Elementwise unary functions. [`UnaryOp::apply`] is the reference definition of each.
///
/// The set is closed under differentiation: every derivative is written with ops of the IR
/// (e.g. `tanh' = 1 − tanh²`, `relu' = step`, `elu' = elu − relu + 1`, `step' = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `tanh(x)`.
    Tanh,
    /// `log(1 + eˣ)`, computed as `max(x, 0) + log1p(e^{−|x|})` (exact for every `x`).
    Softplus,
    /// `1 / (1 + e^{−x})`, computed without overflow.
    Sigmoid,
    /// `max(x, 0)` (`0` for `x < 0`, `x` otherwise).
    Relu,
    /// `x` for `x > 0`, `eˣ − 1` otherwise (α = 1).
    Elu,
    /// `x · sigmoid(x)` (swish).
    Silu,
    /// Heaviside `[x > 0]` (`0` at `x = 0`, as PyTorch's relu derivative); its derivative is 0.
    Step,
    /// `sin(x)`.
    Sin,
    /// `cos(x)`.
    Cos,
    /// `x²`.
    Square,
    /// `eˣ`.
    Exp,
    /// `ln(x)`.
    Log,
    /// `−x`.
    Neg,
    /// `1 / x`.
    Recip,
}

impl UnaryOp {
    /// Every unary op, in declaration order.
    pub const ALL: [UnaryOp; 14] = [
        UnaryOp::Tanh,
        UnaryOp::Softplus,
        UnaryOp::Sigmoid,
        UnaryOp::Relu,
        UnaryOp::Elu,
        UnaryOp::Silu,
        UnaryOp::Step,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Square,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Neg,
        UnaryOp::Recip,
    ];

    /// The lowercase name used by the text form.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Tanh => "tanh",
            UnaryOp::Softplus => "softplus",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Elu => "elu",
            UnaryOp::Silu => "silu",
            UnaryOp::Step => "step",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Square => "square",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Neg => "neg",
            UnaryOp::Recip => "recip",
        }
    }

    /// The reference definition in `f64` (matches the runtime's activation functions).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            UnaryOp::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            UnaryOp::Silu => x * sigmoid(x),
            UnaryOp::Step => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
            UnaryOp::Square => x * x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Neg => -x,
            UnaryOp::Recip => 1.0 / x,
        }
    }
}

/// Numerically stable logistic sigmoid: never computes `exp` of a positive number.
fn sigmoid(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 { r } else { e * r }
}

/// Elementwise binary functions (with the broadcasting rules of [`Op::Binary`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a − b`.
    Sub,
    /// `a · b`.
    Mul,
    /// `a / b`.
    Div,
}

impl BinaryOp {
    /// The lowercase name used by the text form.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }

    /// The reference definition in `f64`.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
        }
    }
}

/// Sizes of a periodic 1-D convolution ([`Op::Conv1d`], [`Op::Conv1dT`],
/// [`Op::Conv1dWeightGrad`]).
///
/// Layout of a batched signal with `c` channels on the `n`-point grid: feature index
/// `channel * n + point`. The kernel `w` is `[cout, cin, k]` (PyTorch `Conv1d` layout) with
/// `k` odd and centred, `r = (k − 1) / 2`, indices taken modulo `n` (periodic padding by `r`,
/// then a valid cross-correlation, as PyTorch `Conv1d` after a circular pad):
///
/// `y[o, i] = b[o] + Σ_c Σ_j w[o, c, j] · x[c, (i + j − r) mod n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvShape {
    /// Grid points.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size (odd).
    pub k: usize,
}

/// One operation: a node of the graph. Operands are earlier [`Value`]s.
///
/// Shapes below: `[B,w]` batched, `[..]` global. Each node's type is inferred (and checked)
/// when it is added by [`GraphBuilder`](super::GraphBuilder).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Batched input number `index` (its width is declared in the graph's input list).
    /// Input 0 is the state `x`; others are auxiliary (noise ε, cotangents, tangents).
    Input {
        /// Position in [`Graph::inputs`](super::Graph::inputs).
        index: u32,
    },
    /// The time `t`, one value per sample: `[B,1]`.
    Time,
    /// Parameter tensor number `index` (global; its shape is declared in the graph's
    /// parameter list).
    Param {
        /// Position in [`Graph::params`](super::Graph::params).
        index: u32,
    },
    /// A tensor of type `ty` (batched `[B,w]` or global) filled with `value`.
    Const {
        /// The fill value (finite).
        value: f64,
        /// Its type.
        ty: Type,
    },
    /// `y = x Wᵀ + b`: `x [B,in]`, `w [out,in]`, `b [out]` → `[B,out]`.
    Dense {
        /// Input.
        x: Value,
        /// Weight, PyTorch layout `[out, in]`.
        w: Value,
        /// Optional bias `[out]`.
        b: Option<Value>,
    },
    /// `y = x W`: `x [B,k]`, `w [k,m]` → `[B,m]` (the input-gradient of [`Op::Dense`]).
    DenseNT {
        /// Input.
        x: Value,
        /// Weight `[k, m]`.
        w: Value,
    },
    /// `G = Σ_batch aᵀ b`: `a [B,p]`, `b [B,q]` → `[p,q]` (weight gradients).
    BatchOuter {
        /// Left factor.
        a: Value,
        /// Right factor.
        b: Value,
    },
    /// Column sums over the batch: `[B,w]` → `[w]` (bias gradients).
    BatchSum {
        /// Input.
        x: Value,
    },
    /// Every row a copy of `x`: `[w]` → `[B,w]`.
    BroadcastRows {
        /// A one-dimensional global.
        x: Value,
    },
    /// Elementwise `op(x)`, batched or global.
    Unary {
        /// The function.
        op: UnaryOp,
        /// Input.
        x: Value,
    },
    /// Elementwise `op(a, b)`. Both batched with equal widths, or one of width 1 broadcast
    /// along the features of the other (`[B,1]` with `[B,w]`, either side) → `[B,max]`; or
    /// both global with the same shape.
    Binary {
        /// The function.
        op: BinaryOp,
        /// Left operand.
        a: Value,
        /// Right operand.
        b: Value,
    },
    /// `c · x`, batched or global.
    Scale {
        /// Input.
        x: Value,
        /// Factor.
        c: f64,
    },
    /// Concatenation along features: `[B,w₁]`, `[B,w₂]`, … → `[B,Σwᵢ]`.
    Concat {
        /// At least one batched part.
        parts: Vec<Value>,
    },
    /// Features `start..start + len`: `[B,w]` → `[B,len]`.
    Slice {
        /// Input.
        x: Value,
        /// First feature.
        start: usize,
        /// Number of features (≥ 1).
        len: usize,
    },
    /// Sums of consecutive groups of `size` features: `[B,g·size]` → `[B,g]`.
    /// `size = w` is the sum over all features (`[B,1]`); `size = n` on a channel layout sums
    /// each channel over the grid.
    SumGroups {
        /// Input.
        x: Value,
        /// Group size (≥ 1, divides the width).
        size: usize,
    },
    /// Each feature repeated `size` times: `[B,g]` → `[B,g·size]` (transpose of
    /// [`Op::SumGroups`]; `[B,1]` → `[B,w]` broadcasts a column).
    RepeatGroups {
        /// Input.
        x: Value,
        /// Repetitions (≥ 1).
        size: usize,
    },
    /// A fixed periodic stencil applied to each of `channels` channels on an `n`-point grid:
    /// `y[c, i] = Σ_j coeffs[j] · x[c, (i + j − r) mod n]`, `r = (len − 1) / 2`. `[B,c·n]` →
    /// `[B,c·n]`. Its transpose is the stencil with reversed coefficients.
    Stencil {
        /// Input.
        x: Value,
        /// Centred coefficients, odd length.
        coeffs: Vec<f64>,
        /// Grid points.
        n: usize,
        /// Channels.
        channels: usize,
    },
    /// Periodic convolution (see [`ConvShape`]): `x [B,cin·n]`, `w [cout,cin,k]`,
    /// `b [cout]` → `[B,cout·n]`.
    Conv1d {
        /// Input signal.
        x: Value,
        /// Kernel `[cout, cin, k]`.
        w: Value,
        /// Optional bias `[cout]`.
        b: Option<Value>,
        /// Sizes.
        shape: ConvShape,
    },
    /// Input-transpose of [`Op::Conv1d`]: `y [B,cout·n]`, `w [cout,cin,k]` → `[B,cin·n]`,
    /// `x̄[c, i] = Σ_o Σ_j w[o, c, j] · y[o, (i − j + r) mod n]`.
    Conv1dT {
        /// Output-side signal (a cotangent).
        y: Value,
        /// Kernel `[cout, cin, k]`.
        w: Value,
        /// Sizes.
        shape: ConvShape,
    },
    /// Weight-gradient of [`Op::Conv1d`]: `dy [B,cout·n]`, `x [B,cin·n]` → `[cout,cin,k]`,
    /// `G[o, c, j] = Σ_batch Σ_i dy[o, i] · x[c, (i + j − r) mod n]`.
    Conv1dWeightGrad {
        /// Output-side signal (a cotangent).
        dy: Value,
        /// Input signal.
        x: Value,
        /// Sizes.
        shape: ConvShape,
    },
    /// 2-D convolution with zero padding (see [`Conv2dShape`]; layout in
    /// [`crate::ir::conv2d`]): `x [B,cin·h·w]`, `w [cout,cin,k,k]`, `b [cout]` →
    /// `[B,cout·ho·wo]`.
    Conv2d {
        /// Input image.
        x: Value,
        /// Kernel `[cout, cin, k, k]`.
        w: Value,
        /// Optional bias `[cout]`.
        b: Option<Value>,
        /// Sizes.
        shape: Conv2dShape,
    },
    /// Input-transpose of [`Op::Conv2d`] (the VJP w.r.t. its input): `y [B,cout·ho·wo]`,
    /// `w [cout,cin,k,k]` → `[B,cin·h·w]`.
    Conv2dT {
        /// Output-side image (a cotangent).
        y: Value,
        /// Kernel `[cout, cin, k, k]`.
        w: Value,
        /// Sizes.
        shape: Conv2dShape,
    },
    /// Weight gradient of [`Op::Conv2d`]: `dy [B,cout·ho·wo]`, `x [B,cin·h·w]` →
    /// `[cout,cin,k,k]`, summed over the batch.
    Conv2dWeightGrad {
        /// Output-side image (a cotangent).
        dy: Value,
        /// Input image.
        x: Value,
        /// Sizes.
        shape: Conv2dShape,
    },
    /// 2×2 space-to-channel (see [`SqueezeShape`]): `[B,c·h·w]` → `[B,4c·(h/2)·(w/2)]`.
    Squeeze {
        /// Input image.
        x: Value,
        /// The full-resolution image's shape.
        shape: SqueezeShape,
    },
    /// The inverse (and transpose) of [`Op::Squeeze`].
    Unsqueeze {
        /// Squeezed image.
        x: Value,
        /// The full-resolution image's shape.
        shape: SqueezeShape,
    },
}

impl Op {
    /// The mnemonic of the text form (`"dense"`, `"tanh"`, `"add"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Time => "time",
            Op::Param { .. } => "param",
            Op::Const { .. } => "const",
            Op::Dense { .. } => "dense",
            Op::DenseNT { .. } => "dense_nt",
            Op::BatchOuter { .. } => "batch_outer",
            Op::BatchSum { .. } => "batch_sum",
            Op::BroadcastRows { .. } => "broadcast_rows",
            Op::Unary { op, .. } => op.name(),
            Op::Binary { op, .. } => op.name(),
            Op::Scale { .. } => "scale",
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::SumGroups { .. } => "sum_groups",
            Op::RepeatGroups { .. } => "repeat_groups",
            Op::Stencil { .. } => "stencil",
            Op::Conv1d { .. } => "conv1d",
            Op::Conv1dT { .. } => "conv1d_t",
            Op::Conv1dWeightGrad { .. } => "conv1d_wgrad",
            Op::Conv2d { .. } => "conv2d",
            Op::Conv2dT { .. } => "conv2d_t",
            Op::Conv2dWeightGrad { .. } => "conv2d_wgrad",
            Op::Squeeze { .. } => "squeeze",
            Op::Unsqueeze { .. } => "unsqueeze",
        }
    }

    /// True for the leaves that read no operand: inputs, time, parameters and constants.
    pub fn is_leaf(&self) -> bool {
        matches!(
            self,
            Op::Input { .. } | Op::Time | Op::Param { .. } | Op::Const { .. }
        )
    }

    /// True for elementwise ops (unary, binary, scale).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Unary { .. } | Op::Binary { .. } | Op::Scale { .. }
        )
    }

    /// True for ops a backward pass may recompute rather than store: arithmetic (binary,
    /// scale, `neg`, `square`, `recip`, `step`, `relu`) and data movement (`concat`,
    /// `slice`, `sum_groups`, `repeat_groups`, `broadcast_rows`). Transcendental functions
    /// (`tanh`, `exp`, …) are not cheap.
    pub fn is_cheap(&self) -> bool {
        match self {
            Op::Unary { op, .. } => matches!(
                op,
                UnaryOp::Neg | UnaryOp::Square | UnaryOp::Recip | UnaryOp::Step | UnaryOp::Relu
            ),
            Op::Binary { .. }
            | Op::Scale { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::SumGroups { .. }
            | Op::RepeatGroups { .. }
            | Op::BroadcastRows { .. } => true,
            _ => false,
        }
    }

    /// The operands, in the order of the text form.
    pub fn operands(&self) -> Vec<Value> {
        match self {
            Op::Input { .. } | Op::Time | Op::Param { .. } | Op::Const { .. } => Vec::new(),
            Op::Dense { x, w, b } | Op::Conv1d { x, w, b, .. } | Op::Conv2d { x, w, b, .. } => {
                let mut v = vec![*x, *w];
                v.extend(*b);
                v
            }
            Op::DenseNT { x: a, w: b }
            | Op::BatchOuter { a, b }
            | Op::Binary { a, b, .. }
            | Op::Conv1dT { y: a, w: b, .. }
            | Op::Conv1dWeightGrad { dy: a, x: b, .. }
            | Op::Conv2dT { y: a, w: b, .. }
            | Op::Conv2dWeightGrad { dy: a, x: b, .. } => vec![*a, *b],
            Op::BatchSum { x }
            | Op::BroadcastRows { x }
            | Op::Unary { x, .. }
            | Op::Scale { x, .. }
            | Op::Slice { x, .. }
            | Op::SumGroups { x, .. }
            | Op::RepeatGroups { x, .. }
            | Op::Stencil { x, .. }
            | Op::Squeeze { x, .. }
            | Op::Unsqueeze { x, .. } => vec![*x],
            Op::Concat { parts } => parts.clone(),
        }
    }

    /// The same op with every operand replaced by `f(operand)`.
    pub fn map_operands(&self, mut f: impl FnMut(Value) -> Value) -> Op {
        let mut op = self.clone();
        match &mut op {
            Op::Input { .. } | Op::Time | Op::Param { .. } | Op::Const { .. } => {}
            Op::Dense { x, w, b } | Op::Conv1d { x, w, b, .. } | Op::Conv2d { x, w, b, .. } => {
                *x = f(*x);
                *w = f(*w);
                if let Some(b) = b {
                    *b = f(*b);
                }
            }
            Op::DenseNT { x: a, w: b }
            | Op::BatchOuter { a, b }
            | Op::Binary { a, b, .. }
            | Op::Conv1dT { y: a, w: b, .. }
            | Op::Conv1dWeightGrad { dy: a, x: b, .. }
            | Op::Conv2dT { y: a, w: b, .. }
            | Op::Conv2dWeightGrad { dy: a, x: b, .. } => {
                *a = f(*a);
                *b = f(*b);
            }
            Op::BatchSum { x }
            | Op::BroadcastRows { x }
            | Op::Unary { x, .. }
            | Op::Scale { x, .. }
            | Op::Slice { x, .. }
            | Op::SumGroups { x, .. }
            | Op::RepeatGroups { x, .. }
            | Op::Stencil { x, .. }
            | Op::Squeeze { x, .. }
            | Op::Unsqueeze { x, .. } => *x = f(*x),
            Op::Concat { parts } => {
                for p in parts {
                    *p = f(*p);
                }
            }
        }
        op
    }
}

impl fmt::Display for Op {
    /// The right-hand side of a node line: mnemonic, operands, attributes, e.g.
    /// `dense v1, v2, v3` or `slice v4, 0, 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let mut sep = " ";
        for v in self.operands() {
            write!(f, "{sep}{v}")?;
            sep = ", ";
        }
        match self {
            Op::Input { index } | Op::Param { index } => write!(f, " {index}"),
            Op::Const { value, .. } => write!(f, " {value:?}"),
            Op::Scale { c, .. } => write!(f, ", {c:?}"),
            Op::Slice { start, len, .. } => write!(f, ", {start}, {len}"),
            Op::SumGroups { size, .. } | Op::RepeatGroups { size, .. } => write!(f, ", {size}"),
            Op::Stencil {
                coeffs,
                n,
                channels,
                ..
            } => {
                f.write_str(", [")?;
                for (i, c) in coeffs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{c:?}")?;
                }
                write!(f, "], n={n}, channels={channels}")
            }
            Op::Conv1d { shape, .. }
            | Op::Conv1dT { shape, .. }
            | Op::Conv1dWeightGrad { shape, .. } => write!(
                f,
                ", n={}, cin={}, cout={}, k={}",
                shape.n, shape.cin, shape.cout, shape.k
            ),
            Op::Conv2d { shape: s, .. }
            | Op::Conv2dT { shape: s, .. }
            | Op::Conv2dWeightGrad { shape: s, .. } => write!(
                f,
                ", cin={}, cout={}, h={}, w={}, k={}, stride={}, pad={}",
                s.cin, s.cout, s.h, s.w, s.k, s.stride, s.pad
            ),
            Op::Squeeze { shape: s, .. } | Op::Unsqueeze { shape: s, .. } => {
                write!(f, ", c={}, h={}, w={}", s.c, s.h, s.w)
            }
            _ => Ok(()),
        }
    }
}
