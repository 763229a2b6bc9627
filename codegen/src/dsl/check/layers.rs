//! The layer kinds of a `neural_ode!` declaration ([`LayerKind`], [`LayerSpec`]) and the IR
//! graph a checked declaration builds ([`build_graph`]), which the macro lowers and the
//! generated `graph()` (and the TOML model files with image layers) call again.

use super::model::FormSpec;
use crate::ad::{LinearOp, Trace, cnf_dynamics, energy_dynamics};
use crate::ir::{Activation, Graph, GraphBuilder, IrError, Value};

/// The kind of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// `dense(width, activation?)`: PyTorch `nn.Linear`.
    Dense,
    /// `concat_squash(width, activation?)`: FFJORD's `ConcatSquashLinear` (reads `t` itself).
    ConcatSquash,
    /// `conv1d(channels, kernel, activation?, no_bias?)`: a periodic 1-D convolution (PyTorch
    /// `Conv1d` after a circular pad of `(kernel − 1) / 2`) on the energy form's grid, or on
    /// `dim` points for the other forms; `width` is the output channel count.
    Conv1d {
        /// Kernel size (odd).
        kernel: usize,
        /// Whether the layer has a bias.
        bias: bool,
    },
    /// `conv2d(channels, kernel, stride?, padding?, activation?, no_bias?, concat_time?)`: a
    /// 2-D convolution with zero padding (PyTorch `Conv2d(cin, channels, kernel, stride,
    /// padding)`) on the image the layer before gives (the model's `shape: [c, h, w]` first);
    /// with `concat_time`, FFJORD's `ConcatConv2d` (t as an extra first input channel, tensors
    /// `{name}._layer.weight`/`.bias`). `width` is the output channel count.
    Conv2d {
        /// Kernel size (square).
        kernel: usize,
        /// Stride (≥ 1; default 1).
        stride: usize,
        /// Zero padding on every side (default 0).
        padding: usize,
        /// Whether the layer has a bias.
        bias: bool,
        /// Whether t is an extra first input channel.
        concat_time: bool,
    },
    /// `squeeze`: 2×2 space-to-channel of the image (FFJORD's `SqueezeLayer(2)`); `width` is
    /// the output channel count.
    Squeeze,
    /// `unsqueeze`: the inverse of `squeeze`; `width` is the output channel count.
    Unsqueeze,
}

impl LayerKind {
    /// Whether the layer reads an image (`conv2d`, `squeeze`, `unsqueeze`).
    pub fn is_image(&self) -> bool {
        matches!(
            self,
            LayerKind::Conv2d { .. } | LayerKind::Squeeze | LayerKind::Unsqueeze
        )
    }
}

/// One validated layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// The kind.
    pub kind: LayerKind,
    /// Output width.
    pub width: usize,
    /// Activation (`None` for none or `identity`).
    pub activation: Option<Activation>,
}

/// The IR graph of a declaration whose state is not an image: [`build_shaped_graph`] with
/// no `shape:`.
///
/// # Errors
/// A layer or form that does not fit (checked by [`super::check_model`]).
pub fn build_graph(
    dim: usize,
    time: bool,
    layers: &[LayerSpec],
    form: &FormSpec,
) -> Result<Graph, IrError> {
    build_shaped_graph(dim, time, None, layers, form)
}

/// The IR graph of a declaration: input `x [B,dim]` (and `[x, t]` when `time` and the first
/// layer is dense), layers `layers.{k}` with their activations, then the form's transform.
/// `image` is the state's `[c, h, w]` (the `shape:` field), which image layers need.
/// `neural_ode!` calls it at compile time (and lowers the graph's plans), so it does not fail
/// for a model that compiled; the generated `graph()` calls it again.
///
/// # Errors
/// A layer or form that does not fit (checked by [`super::check_model`]).
pub fn build_shaped_graph(
    dim: usize,
    time: bool,
    image: Option<[usize; 3]>,
    layers: &[LayerSpec],
    form: &FormSpec,
) -> Result<Graph, IrError> {
    let grid = match *form {
        FormSpec::Energy { n, .. } => n,
        FormSpec::Multiscale { .. } => {
            return Err(IrError::Signature {
                context: "build_graph",
                detail: "a multiscale flow is a chain of CNF blocks: build each block's graph \
                         with `build_block_graph`"
                    .into(),
            });
        }
        _ => dim,
    };
    let mut b = GraphBuilder::new();
    let mut h = b.input("x", dim)?;
    let image = super::image::input_image(dim, image)?;
    if time && layers.first().is_some_and(|l| l.kind == LayerKind::Dense) {
        h = b.time_concat(h)?;
    }
    let h = layer_stack(&mut b, h, image, layers, grid)?;
    let f = b.finish(&[h])?;
    match *form {
        FormSpec::Field => Ok(f),
        FormSpec::Cnf { hutchinson } => cnf_dynamics(
            &f,
            if hutchinson {
                Trace::Hutchinson
            } else {
                Trace::Exact
            },
        ),
        FormSpec::Multiscale { .. } => Ok(f), // refused above
        FormSpec::Energy { laplacian, n, dx } => energy_dynamics(
            &f,
            &if laplacian {
                LinearOp::laplacian(n, dx)
            } else {
                LinearOp::central_difference(n, dx)
            },
        ),
    }
}

/// The nodes of `layers` (named `layers.{k}`, each followed by its activation) on `h`, whose
/// image shape is `image` when it is one; `grid` is a `conv1d`'s number of points. Returns
/// the last layer's output.
pub(super) fn layer_stack(
    b: &mut GraphBuilder,
    mut h: Value,
    mut image: Option<(usize, usize, usize)>,
    layers: &[LayerSpec],
    grid: usize,
) -> Result<Value, IrError> {
    for (k, l) in layers.iter().enumerate() {
        let name = format!("layers.{k}");
        if l.kind.is_image() {
            let (v, im) = super::image::build_layer(b, h, &name, l, image)?;
            (h, image) = (v, Some(im));
        } else {
            image = None;
        }
        h = match l.kind {
            LayerKind::Dense => b.dense_layer(h, &name, l.width, Activation::Identity, true)?,
            LayerKind::ConcatSquash => b.concat_squash(h, &name, l.width)?,
            LayerKind::Conv1d { kernel, bias } => {
                b.conv1d_layer(h, &name, grid, l.width, kernel, Activation::Identity, bias)?
            }
            LayerKind::Conv2d { .. } | LayerKind::Squeeze | LayerKind::Unsqueeze => h,
        };
        if let Some(a) = l.activation {
            h = b.activation(h, a)?;
        }
    }
    Ok(h)
}
