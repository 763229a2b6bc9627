//! FFJORD's multiscale image flow (`ODENVP` with `ODEnet(…, layer_type="concat")`) on
//! 28 × 28 single-channel images, built from the IR's 2-D convolutions.
//!
//! Every CNF block integrates the whole state (784 logit pixels + Δlogp) over `[b, b + 1]`;
//! a block at a coarser scale reads the state squeezed `s` times (2×2 space-to-channel,
//! FFJORD's `SqueezeLayer(2)`), runs its ODE net on the first `c` channels (the ones FFJORD
//! keeps after factoring out half at each scale) and leaves the other coordinates fixed (zero
//! velocity), unsqueezing its output. Because squeezing maps channel `k` to channels
//! `4k..4k + 3`, the kept prefix of every scale is a prefix of the next scale's squeeze, so
//! this is exactly FFJORD's model (its factored-out parts are also scored under N(0, I) at
//! the end). One difference: the adaptive step size control sees all 784 coordinates (the
//! fixed ones add zero error), where FFJORD's solver sees only the block's own.
//!
//! The ODE net of a block: `ConcatConv2d(c, h₁, 3, 1, 1)`, softplus, …,
//! `ConcatConv2d(h_last, c, 3, 1, 1)` — the time as an extra first input channel of every
//! layer. Parameter names `layers.{i}._layer.weight` / `.bias` as FFJORD's `ODEnet`.

use std::error::Error;

use symplode::codegen::ir::{Graph, GraphBuilder, IrError, SqueezeShape, Type, UnaryOp};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;

/// Image side.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const D: usize = SIDE * SIDE;

/// One CNF block: how many squeezes, how many channels its ODE net transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    /// Squeezes applied to the 1 × 28 × 28 state.
    pub squeezes: usize,
    /// Leading channels the net transforms (the rest are factored out).
    pub channels: usize,
}

/// FFJORD's `ODENVP` block sequence for 28 × 28 × 1: per scale `blocks` blocks, then (except
/// at the last scale) a squeeze and `blocks` more; between scales half the channels are
/// factored out. `scales = 3, blocks = 2` is FFJORD's MNIST model (10 blocks).
pub fn architecture(scales: usize, blocks: usize) -> Vec<BlockSpec> {
    let mut out = Vec::new();
    let (mut s, mut c) = (0, 1);
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

/// The vector field of one block: input `x [B, 784]`, output `[B, 784]`.
pub fn block_net(spec: BlockSpec, hidden: &[usize]) -> Result<Graph, IrError> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", D)?;
    let (mut c, mut h, mut w) = (1, SIDE, SIDE);
    let mut z = x;
    let mut squeezes = Vec::new();
    for _ in 0..spec.squeezes {
        let s = SqueezeShape { c, h, w };
        z = b.squeeze(z, s)?;
        squeezes.push(s);
        (c, h, w) = (4 * c, h / 2, w / 2);
    }
    let keep = spec.channels.min(c);
    let mut y = if keep < c {
        b.slice(z, 0, keep * h * w)?
    } else {
        z
    };
    let mut image = (keep, h, w);
    for (i, &width) in hidden.iter().chain([&keep]).enumerate() {
        let (v, im) = b.concat_conv2d(y, &format!("layers.{i}"), image, width, (3, 1, 1))?;
        y = if i < hidden.len() {
            b.unary(UnaryOp::Softplus, v)?
        } else {
            v
        };
        image = im;
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

/// PyTorch's default initialisation: every tensor uniform in `±1/√fan_in`, `fan_in` the
/// product of a weight's dimensions after the first (a bias takes its weight's).
pub fn init_params(g: &Graph, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(g.param_len());
    let mut fan_in = 1usize;
    for p in g.params() {
        if p.shape.len() >= 2 {
            fan_in = p.shape[1..].iter().product();
        }
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let n: usize = p.shape.iter().product();
        out.extend((0..n).map(|_| rng.uniform_range(-bound, bound)));
    }
    out
}

/// Rademacher noise (±1), FFJORD's `--rademacher` Hutchinson probe.
pub fn rademacher<T: Real>(n: usize, rng: &mut Rng) -> Vec<T> {
    (0..n)
        .map(|_| T::of(if rng.below(2) == 0 { -1.0 } else { 1.0 }))
        .collect()
}

/// `−log p(y)` in nats of each row `[z, Δlogp]` of a final state: `½|z|² + (D/2) log 2π +
/// Δlogp` (Δlogp integrates `+tr ∂f/∂z` here, as the tabular flows).
pub fn nll_rows<T: Real>(state: &[T]) -> Vec<f64> {
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    state
        .chunks_exact(D + 1)
        .map(|r| {
            let sq: f64 = r[..D].iter().map(|v| v.f64() * v.f64()).sum();
            0.5 * sq + 0.5 * D as f64 * log_2pi + r[D].f64()
        })
        .collect()
}

/// Mean `−log p(y)` (nats per image) of the last block's final state, with its cotangent.
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>) -> f64 {
    let (Some(last), Some(c)) = (
        out.last().and_then(|o| o.last()),
        cot.last_mut().and_then(|o| o.last_mut()),
    ) else {
        return f64::NAN;
    };
    let rows = nll_rows(last);
    let inv = T::of(1.0 / rows.len().max(1) as f64);
    for (cr, r) in c.chunks_exact_mut(D + 1).zip(last.chunks_exact(D + 1)) {
        for k in 0..D {
            cr[k] = r[k] * inv;
        }
        cr[D] = inv;
    }
    rows.iter().sum::<f64>() / rows.len().max(1) as f64
}

/// Bits per dimension of pixels from the mean `−log p(y)` (nats per image) and the mean
/// log-determinant of the dequantisation + logit transform
/// (`symplode::datasets::fashion_mnist::bits_per_dim`).
pub fn bits_per_dim(nll_y: f64, log_det: f64) -> f64 {
    symplode::datasets::fashion_mnist::bits_per_dim(&[-nll_y], &[log_det], D)
}

/// The dequantised, logit-transformed images `indices` as augmented states `[y, 0]`, with
/// the mean log-determinant of the transform.
pub fn batch_states<T: Real>(
    images: &symplode::datasets::fashion_mnist::Images,
    indices: &[usize],
    rng: &mut Rng,
) -> (Vec<T>, f64) {
    let dq = symplode::datasets::fashion_mnist::dequantise_logit(images, indices, rng);
    let x: Vec<T> =
        dq.y.chunks_exact(D)
            .flat_map(|r| r.iter().map(|&v| T::of(v)).chain([T::zero()]))
            .collect();
    let ld = dq.log_det.iter().sum::<f64>() / indices.len().max(1) as f64;
    (x, ld)
}

/// Logit pixel → intensity in [0, 1] (the inverse of FFJORD's logit transform, clamped).
pub fn to_intensity(y: f64) -> f64 {
    let a = symplode::datasets::fashion_mnist::LOGIT_ALPHA;
    let s = 1.0 / (1.0 + (-y).exp());
    ((s - a) / (1.0 - 2.0 * a)).clamp(0.0, 1.0)
}

/// Writes grids of images side by side (each panel `cols` wide, intensities in [0, 1] shown
/// black to white, `D` per image), scaled ×`zoom`, as a grayscale PNG drawn into a
/// temporary and renamed.
pub fn write_grids(
    path: &std::path::Path,
    panels: &[&[f64]],
    cols: usize,
    zoom: u32,
) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    let rows = panels
        .iter()
        .map(|p| (p.len() / D).div_ceil(cols))
        .max()
        .unwrap_or(1);
    let gap = 8u32;
    let pw = (cols * SIDE) as u32 * zoom;
    let width = panels.len() as u32 * pw + (panels.len() as u32 + 1) * gap;
    let height = (rows * SIDE) as u32 * zoom + 2 * gap;
    let tmp = super::png::tmp_path(path);
    {
        let root = BitMapBackend::new(&tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (pi, panel) in panels.iter().enumerate() {
            let x0 = gap + pi as u32 * (pw + gap);
            for (n, img) in panel.chunks_exact(D).enumerate() {
                let (gr, gc) = (n / cols, n % cols);
                for (k, &v) in img.iter().enumerate() {
                    let g = (255.0 * v.clamp(0.0, 1.0)).round() as u8;
                    let (py, px) = (k / SIDE, k % SIDE);
                    for dy in 0..zoom {
                        for dx in 0..zoom {
                            let x = x0 + ((gc * SIDE + px) as u32) * zoom + dx;
                            let y = gap + ((gr * SIDE + py) as u32) * zoom + dy;
                            root.draw_pixel((x as i32, y as i32), &RGBColor(g, g, g))?;
                        }
                    }
                }
            }
        }
        root.present()?;
    }
    super::png::commit(&tmp, path)?;
    Ok(())
}
