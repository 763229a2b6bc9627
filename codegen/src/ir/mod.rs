//! The network IR: an SSA graph over batched tensors.
//!
//! A [`Graph`] is a flat arena of [`Node`]s in topological order (a node only reads earlier
//! values), each an [`Op`] with an inferred, checked [`Type`]; [`Value`]s are `u32` ids in
//! Cranelift's entity style, printed `v{n}`. The graph is what the three executions run (the
//! runtime interpreter, the `neural_ode!` lowering to Rust, the Cranelift JIT), so it is kept
//! small and explicit.
//!
//! # Values
//!
//! - `Batched { width }`: a `[B, width]` row-major matrix, one row per sample; `B` is known
//!   only at run time. Inputs, the time (`[B,1]`, one value per sample, so per-sample time
//!   grids are possible) and activations are batched.
//! - `Global { shape }`: an unbatched row-major tensor: parameters (PyTorch layout, `[out,in]`
//!   for a dense weight) and parameter gradients.
//!
//! # Ops (a closed set under differentiation)
//!
//! | op | types | derivative ops |
//! |---|---|---|
//! | `input i`, `time`, `param j`, `const c` | leaves | — |
//! | `dense x, w, b` = `x Wᵀ + b` | `[B,in]`,`[out,in]`,`[out]` → `[B,out]` | dense_nt, batch_outer, batch_sum, broadcast_rows |
//! | `dense_nt x, w` = `x W` | `[B,k]`,`[k,m]` → `[B,m]` | dense, batch_outer |
//! | `batch_outer a, b` = `Σ_batch aᵀb` | `[B,p]`,`[B,q]` → `[p,q]` | dense, dense_nt |
//! | `batch_sum x` | `[B,w]` → `[w]` | broadcast_rows |
//! | `broadcast_rows x` | `[w]` → `[B,w]` | batch_sum |
//! | unary: tanh softplus sigmoid relu elu silu step sin cos square exp log neg recip | any | unary, binary, scale, const |
//! | binary: add sub mul div | `[B,w]`⊕`[B,w]`, `[B,1]`⊕`[B,w]`, `[s]`⊕`[s]` | binary, unary, sum_groups |
//! | `scale x, c` | any | scale |
//! | `concat parts…`, `slice x, start, len` | along features | slice, concat, const |
//! | `sum_groups x, size`, `repeat_groups x, size` | `[B,g·size]` ↔ `[B,g]` | each other |
//! | `stencil x, coeffs, n, channels` | periodic, per channel | stencil (reversed coefficients) |
//! | `conv1d x, w, b`, `conv1d_t y, w`, `conv1d_wgrad dy, x` | periodic convolution | the three, sum_groups, batch_sum, repeat_groups |
//! | `conv2d x, w, b`, `conv2d_t y, w`, `conv2d_wgrad dy, x` | 2-D convolution, zero padding, stride ([`conv2d`]) | the three, sum_groups, batch_sum, repeat_groups |
//! | `squeeze x`, `unsqueeze x` | 2×2 space-to-channel and back | each other |
//!
//! Semantics are defined by the reference evaluator [`eval::evaluate_f64`] and, for the
//! elementwise functions, by [`UnaryOp::apply`] (matching the runtime's activations:
//! stable softplus and sigmoid, `relu`/`step` `0` at `0`, `elu` with `expm1`). Layout on a
//! periodic 1-D grid of `n` points with `c` channels: feature index `channel * n + point`;
//! of a `c × h × w` image: `(channel * h + row) * w + column` ([`conv2d`]).
//!
//! # Building
//!
//! [`GraphBuilder`] has one method per op and layer helpers ([`GraphBuilder::dense_layer`],
//! [`GraphBuilder::time_concat`], [`GraphBuilder::concat_squash`],
//! [`GraphBuilder::conv1d_layer`]); [`Graph::mlp`] builds exactly the runtime `Mlp`;
//! [`image_flow`] builds the blocks of FFJORD's multiscale image flow.
//! Errors are [`IrError`]s naming the node, op and shapes.
//!
//! ```
//! use symplode_codegen::ir::{Activation, Graph, IrError, eval::evaluate_f64};
//!
//! let g = Graph::mlp(2, &[3], Activation::Tanh, true)?;
//! assert_eq!(g.param_len(), 3 * 3 + 3 + 2 * 3 + 2);
//! let p = vec![0.1; g.param_len()];
//! let y = evaluate_f64(&g, 1, &[&[1.0, 2.0]], 0.5, &p).unwrap();
//! let h = (0.1f64 * (1.0 + 2.0 + 0.5) + 0.1).tanh();
//! assert!((y[0][0] - (0.1 * 3.0 * h + 0.1)).abs() < 1e-15);
//! # Ok::<(), IrError>(())
//! ```
//!
//! # Passes
//!
//! [`passes::dce`], [`passes::cse`] and [`passes::simplify`] are plain `Graph → Graph`
//! functions; [`analysis::partition`] splits a graph at late inputs (cotangents) into a
//! forward pass, a backward pass and the tape between them.

mod activation;
pub mod analysis;
mod builder;
pub mod conv2d;
mod entities;
mod error;
pub mod eval;
mod graph;
pub mod image_flow;
mod infer;
mod layers;
mod ops;
pub mod passes;

pub use activation::{Activation, Saved};
pub use builder::GraphBuilder;
pub use conv2d::{Conv2dShape, SqueezeShape};
pub use entities::{Type, Value};
pub use error::{EvalError, IrError};
pub use graph::{Graph, InputDecl, Node, ParamDecl};
pub use ops::{BinaryOp, ConvShape, Op, UnaryOp};
