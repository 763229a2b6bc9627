//! The IR graphs of FFJORD's multiscale image flow (`ODENVP` with `ODEnet(…,
//! layer_type="concat")`): the block sequence ([`architecture`]) and each block's vector field
//! ([`block_net`]). Pure graph construction, so the runtime's `models::image_flow::ImageFlow`
//! (which re-exports these under `symplode_runtime::models::image_flow`) and `neural_ode!`'s
//! `form: multiscale(…)` (which builds the same graphs at expansion time) share one definition.
//!
//! Every block integrates the whole state (the `c·h·w` image values + Δlogp); a block at a
//! coarser scale reads the state squeezed `s` times (2×2 space-to-channel, FFJORD's
//! `SqueezeLayer(2)`), runs its ODE net on the first `channels` channels (the ones FFJORD keeps
//! after factoring out half at each scale) and leaves the other coordinates fixed (zero
//! velocity), unsqueezing its output. The ODE net: `ConcatConv2d(c, h₁, 3, 1, 1)`, softplus,
//! …, `ConcatConv2d(h_last, c, 3, 1, 1)`, parameter names `layers.{i}._layer.weight` /
//! `.bias` as FFJORD's `ODEnet`.
//!
//! ```
//! use symplode_codegen::ir::image_flow::{BlockSpec, architecture, block_net};
//!
//! // FFJORD's MNIST model: 3 scales, 2 blocks per side of each squeeze: 10 blocks.
//! let specs = architecture(1, 3, 2);
//! assert_eq!(specs.len(), 10);
//! assert_eq!(specs[2], BlockSpec { squeezes: 1, channels: 4 });
//! let g = block_net([1, 8, 8], specs[2], &[4, 4])?;
//! assert_eq!(g.inputs()[0].width, 64);
//! # Ok::<(), symplode_codegen::ir::IrError>(())
//! ```

use super::{Graph, GraphBuilder, IrError, SqueezeShape, Type, UnaryOp, Value};

/// One CNF block: how many squeezes, how many channels its ODE net transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    /// Squeezes applied to the state's image.
    pub squeezes: usize,
    /// Leading channels the net transforms (the rest are factored out).
    pub channels: usize,
}

/// FFJORD's `ODENVP` block sequence for an image of `channels` channels: per scale `blocks`
/// blocks, then (except at the last scale) a squeeze and `blocks` more; between scales half
/// the channels are factored out. `(1, 3, 2)` is FFJORD's MNIST model (10 blocks).
pub fn architecture(channels: usize, scales: usize, blocks: usize) -> Vec<BlockSpec> {
    let mut out = Vec::new();
    let (mut s, mut c) = (0, channels);
    for scale in 0..scales {
        out.extend((0..blocks).map(|_| BlockSpec {
            squeezes: s,
            channels: c,
        }));
        if scale + 1 < scales {
            s += 1;
            c *= 4;
            out.extend((0..blocks).map(|_| BlockSpec {
                squeezes: s,
                channels: c,
            }));
            c /= 2;
        }
    }
    out
}

/// The vector field of one block on `[c, h, w]` images: input `x [B, c·h·w]`, output the
/// same width, hidden channels `hidden` (FFJORD's `ODEnet`: `ConcatConv2d` 3×3, stride 1,
/// padding 1, softplus between layers) — [`block_field`] with that net.
///
/// # Errors
/// An image that cannot be squeezed `spec.squeezes` times (odd sides), more kept channels
/// than the squeezed image has, or sizes the convolutions refuse.
pub fn block_net(image: [usize; 3], spec: BlockSpec, hidden: &[usize]) -> Result<Graph, IrError> {
    block_field(image, spec, |b, mut y, mut im| {
        let keep = im.0;
        for (i, &width) in hidden.iter().chain([&keep]).enumerate() {
            let (v, next) = b.concat_conv2d(y, &format!("layers.{i}"), im, width, (3, 1, 1))?;
            y = if i < hidden.len() {
                b.unary(UnaryOp::Softplus, v)?
            } else {
                v
            };
            im = next;
        }
        Ok(y)
    })
}

/// The vector field of one block with the ODE net `net`: squeeze the state's `[c, h, w]`
/// image `spec.squeezes` times, slice the first `spec.channels` channels, run
/// `net(builder, kept, (channels, h', w'))` on them (it returns the velocity of the kept
/// values, of the same shape), zero velocity for the other channels, unsqueeze back. Shared
/// by [`block_net`] and `neural_ode!`'s `form: multiscale(…)` (whose net is the declared
/// layers), so both wrap their nets identically.
///
/// # Errors
/// An image that cannot be squeezed `spec.squeezes` times (odd sides), more kept channels
/// than the squeezed image has, a net whose output is not the kept values' width, or the
/// net's own errors.
pub fn block_field(
    image: [usize; 3],
    spec: BlockSpec,
    net: impl FnOnce(&mut GraphBuilder, Value, (usize, usize, usize)) -> Result<Value, IrError>,
) -> Result<Graph, IrError> {
    let [c0, h0, w0] = image;
    let mut b = GraphBuilder::new();
    let x = b.input("x", c0 * h0 * w0)?;
    let (mut c, mut h, mut w) = (c0, h0, w0);
    let mut z = x;
    let mut squeezes = Vec::new();
    for _ in 0..spec.squeezes {
        let s = SqueezeShape { c, h, w };
        z = b.squeeze(z, s)?;
        squeezes.push(s);
        (c, h, w) = (4 * c, h / 2, w / 2);
    }
    let keep = spec.channels;
    if keep == 0 || keep > c {
        return Err(IrError::Signature {
            context: "image_flow::block_net",
            detail: format!(
                "the block keeps {keep} channels but the {c0}×{h0}×{w0} image squeezed {} \
                 times has {c}",
                spec.squeezes
            ),
        });
    }
    let z = if keep < c {
        b.slice(z, 0, keep * h * w)?
    } else {
        z
    };
    let mut y = net(&mut b, z, (keep, h, w))?;
    let width = b.ty(y).and_then(Type::width);
    if width != Some(keep * h * w) {
        return Err(IrError::Signature {
            context: "image_flow::block_field",
            detail: format!(
                "the block's net gives {} values per sample but its {keep}×{h}×{w} input has {}",
                width.map_or_else(|| "no batched".to_string(), |v| v.to_string()),
                keep * h * w
            ),
        });
    }
    if keep < c {
        let zeros = b.constant(0.0, Type::batched((c - keep) * h * w))?;
        y = b.concat(&[y, zeros])?;
    }
    for s in squeezes.iter().rev() {
        y = b.unsqueeze(y, *s)?;
    }
    b.finish(&[y])
}
